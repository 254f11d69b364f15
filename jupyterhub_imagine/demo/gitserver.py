"""The demo's git server: ``git http-backend`` (git's smart HTTP protocol) behind a tiny CGI
bridge on loopback, serving a sample repository for launch links (docs/links.md).

Run as ``python -m jupyterhub_imagine.demo.gitserver <project root> <port>`` (the demo's hub runs
it as a service; the link tests run it too). Clones work as from GitHub, shallow clones included
(nbgitpuller makes them); read-only: pushes are refused.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

SAMPLE_NOTEBOOK = """{"cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Sample analysis"]},
  {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],
   "source": ["print(sum(range(10)))"]}],
 "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
"""


def _git(*args: str, cwd: Path) -> str:
    who = {"NAME": "Demo", "EMAIL": "demo@example.org"}
    env = {f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()}
    env.update(HOME=str(cwd), PATH="/usr/bin:/bin")
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def lay_out_sample(root: Path, notebook: str = SAMPLE_NOTEBOOK) -> Path:
    """``root/sample.git``: a bare repository with ``analysis.ipynb`` on ``main``, tagged
    ``v1``; a working clone stays in ``root/sample-work`` to commit more from. Kept if present."""
    bare, work = root / "sample.git", root / "sample-work"
    if bare.exists():
        return bare
    work.mkdir(parents=True)
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "analysis.ipynb").write_text(notebook)
    (work / "README.md").write_text("A sample repository served by the demo's git server.\n")
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "Sample analysis", cwd=work)
    _git("tag", "v1", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    _git("remote", "add", "origin", str(bare), cwd=work)
    return bare


class GitHandler(BaseHTTPRequestHandler):
    root = "."

    def _backend(self) -> None:
        url = urlsplit(self.path)
        if "git-receive-pack" in url.path or "git-receive-pack" in url.query:
            self.send_error(403, "read-only")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "PATH": "/usr/bin:/bin",
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
        head, _, payload = out.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _backend

    def log_message(self, *args: object) -> None:
        pass


def _quit(_signum: int, _frame: object) -> None:
    sys.exit(0)


def main() -> None:
    # the hub stops its services with SIGINT or SIGTERM: a quiet exit, no traceback
    signal.signal(signal.SIGINT, _quit)
    signal.signal(signal.SIGTERM, _quit)
    lay_out_sample(Path(sys.argv[1]))
    GitHandler.root = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), GitHandler)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
