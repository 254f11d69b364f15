"""A real git server on loopback for link tests: the demo's (``git http-backend`` behind a CGI
bridge, git's smart HTTP protocol) serving its sample repository, which nbgitpuller clones as
from a public host."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from jupyterhub_imagine.demo.gitserver import _git as git
from jupyterhub_imagine.demo.gitserver import lay_out_sample
from tests.support.net import free_port
from tests.support.procs import stop_tree, wait_answering

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class GitServer:
    url: str  # of the repository: http://127.0.0.1:<port>/sample.git
    work: Path  # a clone to commit more from
    first: str  # sha of the first commit (tagged v1)

    def push(self, name: str, text: str) -> str:
        (self.work / name).write_text(text)
        git("add", name, cwd=self.work)
        git("commit", "-q", "-m", f"add {name}", cwd=self.work)
        git("push", "-q", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


@contextmanager
def git_server(tmp: Path) -> Iterator[GitServer]:
    lay_out_sample(tmp)
    work = tmp / "sample-work"
    first = git("rev-parse", "HEAD", cwd=work)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub_imagine.demo.gitserver", str(tmp), str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/sample.git"
    try:
        refs = f"{url}/info/refs?service=git-upload-pack"
        wait_answering(lambda: requests.get(refs, timeout=2).ok, proc, lambda: "", "git server", 30)
        yield GitServer(url, work, first)
    finally:
        stop_tree(proc, timeout=10)
