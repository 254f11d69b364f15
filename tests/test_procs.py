"""The test-hub stopper ends what a hub started in sessions of its own."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support.procs import _alive, descendants, stop_tree

# A "hub" that starts a grandchild in a new session which ignores SIGTERM, as a stuck
# single-user server would, and then exits on SIGTERM without stopping it.
PARENT = """
import signal, subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c",
     "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
    start_new_session=True,
)
open(sys.argv[1], "w").write(str(child.pid))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
time.sleep(600)
"""


def test_stop_tree_ends_a_child_in_its_own_session(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    proc = subprocess.Popen([sys.executable, "-c", PARENT, str(pidfile)])
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert child in descendants(proc.pid)
    stop_tree(proc, timeout=10, grace=1)
    assert proc.returncode == 0  # the parent took SIGTERM
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)  # the SIGTERM-proof grandchild got SIGKILL


def test_stop_tree_on_a_process_that_already_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    stop_tree(proc)  # nothing to do, nothing raised
    assert proc.returncode == 0
