"""A real WebDAV server on loopback (`rclone serve webdav`); secret checks for tests."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.net import free_port

needs_fuse = pytest.mark.skipif(
    not (shutil.which("rclone") and os.path.exists("/dev/fuse") and shutil.which("fusermount3")),
    reason="rclone, fusermount3 and /dev/fuse are needed for real mounts",
)


class WebDAVServer:
    """`rclone serve webdav DIR` with basic auth; the password travels in its environment only."""

    def __init__(self, directory: Path, user: str, password: str) -> None:
        self.directory = directory
        self.user = user
        self.password = password
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        env = dict(os.environ)
        if self.user:  # no user: the server accepts any request (and ignores bearer tokens)
            env.update(RCLONE_USER=self.user, RCLONE_PASS=self.password)
        argv = [
            "rclone",
            "serve",
            "webdav",
            str(self.directory),
            "--addr",
            f"127.0.0.1:{self.port}",
        ]
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("rclone serve webdav did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def webdav_server(tmp_path: Path, password: str) -> Iterator[WebDAVServer]:
    remote = tmp_path / "webdav-remote"
    remote.mkdir()
    server = WebDAVServer(remote, "alice", password)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def command_lines_containing(secret: str) -> list[int]:
    """PIDs whose command line contains the secret."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if secret.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def files_containing(roots: list[Path], secret: str, *, others_readable_only: bool) -> list[str]:
    """Regular files under the roots (not crossing mounts) whose content holds the secret."""
    hits = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(folder, d))]
            for name in files:
                path = os.path.join(folder, name)
                try:
                    info = os.lstat(path)
                    if not stat.S_ISREG(info.st_mode):
                        continue
                    if others_readable_only and not info.st_mode & stat.S_IROTH:
                        continue
                    with open(path, "rb") as f:
                        if secret.encode() in f.read():
                            hits.append(path)
                except OSError:
                    continue
    return hits


def mounts_under(root: Path) -> list[str]:
    """Mount points below root, alive or dead, from the kernel's mount table."""
    prefix = str(root).rstrip("/") + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [p for p in points if p.startswith(prefix)]


def unmount_leftovers(root: Path) -> None:
    """Best-effort cleanup if a test failed half-way through."""
    for point in mounts_under(root):
        subprocess.run(["fusermount3", "-u", "-z", point], check=False)


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def rclone_mounts(pids: list[int], under: Path | None = None) -> list[int]:
    """The pids running `rclone mount` (onto a point below ``under`` if given)."""
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        below = under is None or any(a.startswith(str(under).encode() + b"/") for a in argv)
        if argv and argv[0].endswith(b"rclone") and b"mount" in argv and below:
            found.append(pid)
    return found


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class LogCollector(logging.Handler):
    """Every record of the given loggers (the extension's logger does not propagate to root)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._loggers = [logging.getLogger(n) for n in names]

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> LogCollector:
        for logger in self._loggers:
            logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for logger in self._loggers:
            logger.removeHandler(self)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
