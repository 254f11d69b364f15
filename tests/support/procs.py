"""Waiting for a test process to answer, and stopping a test hub together with what it started.

JupyterHub starts configurable-http-proxy and local single-user servers in sessions of their
own (so that signals to the hub do not reach them), so killing the hub's process group misses
them. When a hub is killed, or dies, they are left running. ``stop_tree`` notes the hub's
descendants first, stops the hub, then ends whichever of them outlived it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

from jupyterhub_imagine.demo.oidc import terminate


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # the command name (field 2) may hold spaces and parentheses: split after its last ")"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry.name))
    return out


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children first)."""
    children = _children()
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_tree(proc: subprocess.Popen[bytes], timeout: float = 30.0, grace: float = 5.0) -> None:
    """SIGTERM ``proc`` (the hub cleans up its proxy and servers), SIGKILL it after
    ``timeout``; then SIGTERM, and after ``grace`` SIGKILL, every descendant still alive."""
    below = descendants(proc.pid) if proc.poll() is None else []
    terminate(proc, timeout)
    left = [pid for pid in below if _alive(pid)]
    _signal(left, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [pid for pid in left if _alive(pid)]
    _signal(left, signal.SIGKILL)


def wait_answering(
    probe: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    log: Callable[[], str],
    what: str,
    timeout: float = 60.0,
) -> None:
    """Poll ``probe`` until it returns True. A refused connection or a read timeout (a process
    still starting behind a proxy that already listens, on a loaded machine) counts as "not
    yet"; the process exiting, or ``timeout`` passing, raises with the tail of its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{log()[-3000:]}")
        try:
            if probe():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not answer within {timeout}s:\n{log()[-3000:]}")
