"""A real git server on loopback for link tests: a bare repository served over git's smart HTTP
protocol (``git http-backend``), which git and nbgitpuller clone as from a public host."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.net import free_port
from tests.support.procs import stop_tree, wait_answering

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = """{"cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Sample analysis"]}],
 "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
"""


def git(*args: str, cwd: Path) -> str:
    who = {"NAME": "t", "EMAIL": "t@example.org"}
    env = {f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()}
    env.update(HOME=str(cwd), PATH="/usr/bin:/bin")
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


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
    work, srv = tmp / "work", tmp / "srv"
    work.mkdir()
    srv.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "analysis.ipynb").write_text(NOTEBOOK)
    (work / "README.md").write_text("sample repository\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("tag", "v1", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work)
    git("clone", "-q", "--bare", str(work), "sample.git", cwd=srv)
    git("remote", "add", "origin", str(srv / "sample.git"), cwd=work)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.links.smart_http", str(srv), str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/sample.git"
    try:
        refs = f"{url}/info/refs?service=git-upload-pack"
        wait_answering(lambda: requests.get(refs, timeout=2).ok, proc, lambda: "", "git server", 30)
        yield GitServer(url, work, first)
    finally:
        stop_tree(proc, timeout=10)
