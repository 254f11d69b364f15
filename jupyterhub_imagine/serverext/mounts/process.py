"""The mount program as a child process: start, probe, stop (thin I/O around spec + health)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import re
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor

from .health import Probe
from .spec import Command

_TIMESTAMP_RE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
_LOG_TAIL_BYTES = 4096
_PR_SET_PDEATHSIG = 1
# the server's variables that a mount program may see; nothing else (no hub API token)
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
except OSError:  # not Linux: the mount program is still stopped on every stop path
    _LIBC = None


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for a helper program: PATH, HOME, locale and ``extra`` only."""
    env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env["HOME"] = os.path.expanduser("~")
    env.update(extra or {})
    return env


def die_with_parent() -> None:
    """(Run in the child between fork and exec.) Get SIGTERM when the server dies, even by
    SIGKILL, so a mount program never outlives its server; exit if it is already gone."""
    if _LIBC is None:
        return
    parent = os.getppid()
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the server died before prctl took effect
        os._exit(1)


class MountFailed(Exception):
    """The mount program could not mount; the message is safe to show (secrets scrubbed)."""


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every secret (and its obscured forms the caller passes) with '***'."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


async def run_quiet(argv: list[str], *, stdin: bytes | None = None, timeout: float = 15) -> str:
    """Run a short helper command (argument list, no shell) and return its stdout."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
        preexec_fn=die_with_parent,
    )
    try:
        out, _err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise MountFailed(f"{os.path.basename(argv[0])} did not finish in {timeout:g} s") from None
    if proc.returncode != 0:
        raise MountFailed(f"{os.path.basename(argv[0])} {argv[1]} failed (code {proc.returncode})")
    return out.decode().strip()


async def obscure(rclone: str, secret: str) -> str:
    """rclone's obscured form of a password, computed by rclone itself (secret on stdin)."""
    return await run_quiet([rclone, "obscure", "-"], stdin=secret.encode())


def _list_one(path: str) -> bool:
    with os.scandir(path) as entries:
        next(entries, None)
    return os.path.ismount(path)


def fusermount_program(configured: str = "") -> str | None:
    """The FUSE unmount helper: the configured one, else fusermount3, else fusermount."""
    for name in [configured] if configured else ["fusermount3", "fusermount"]:
        found = shutil.which(name)
        if found:
            return found
    return None


async def lazy_unmount(mountpoint: str, fusermount: str | None) -> None:
    """Detach a mount point whatever its state (dead FUSE mounts answer ENOTCONN)."""
    argv = [fusermount, "-u", "-z", mountpoint] if fusermount else ["umount", "-l", mountpoint]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=child_env(),
    )
    await proc.wait()


def is_stale(mountpoint: str) -> bool:
    """Whether a mount point is still mounted (alive or dead) from an earlier process."""
    try:
        os.stat(mountpoint)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # ENOTCONN and friends: a dead FUSE mount
    return os.path.ismount(mountpoint)


class MountProcess:
    """One running ``rclone mount`` (or ``oneclient -f``), kept in the foreground as our child."""

    def __init__(
        self,
        command: Command,
        mountpoint: str,
        log_path: str,
        *,
        secrets: list[str],
        probes: ThreadPoolExecutor,
        fusermount: str | None,
    ) -> None:
        self.command = command
        self.mountpoint = mountpoint
        self.log_path = log_path
        self._secrets = secrets
        self._probes = probes
        self._fusermount = fusermount
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    def log_tail(self, lines: int = 2) -> str:
        """The last error lines the program wrote, without timestamps or secrets."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - _LOG_TAIL_BYTES))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        kept = [_TIMESTAMP_RE.sub("", line).strip() for line in text.splitlines()]
        kept = [line[:300] for line in kept if line and "Config file" not in line]
        return scrub(" | ".join(kept[-lines:]), self._secrets)

    async def start(self, timeout: float) -> None:
        """Start the program and wait until the mount point is mounted."""
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        config_fd = -1
        env = dict(self.command.env)
        try:
            if self.command.config:
                # the configuration (with secrets) lives in memory only, readable by the child
                config_fd = os.memfd_create("rclone.conf", os.MFD_CLOEXEC)
                os.write(config_fd, self.command.config.encode())
                env["RCLONE_CONFIG"] = f"/proc/self/fd/{config_fd}"
            self._proc = await asyncio.create_subprocess_exec(
                *self.command.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                env=child_env(env),
                pass_fds=(config_fd,) if config_fd >= 0 else (),
                start_new_session=True,  # a Ctrl-C on the server does not hit the mount first
                preexec_fn=die_with_parent,
            )
        except OSError as e:
            raise MountFailed(f"cannot start {os.path.basename(self.command.argv[0])}: {e}") from e
        finally:
            os.close(fd)
            if config_fd >= 0:
                os.close(config_fd)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.returncode is not None:
                tail = self.log_tail() or "no message"
                raise MountFailed(f"the mount program exited (code {self.returncode}): {tail}")
            mounted = await loop.run_in_executor(self._probes, os.path.ismount, self.mountpoint)
            if mounted:
                return
            await asyncio.sleep(0.1)
        await self.stop()
        raise MountFailed(f"the mount was not ready after {timeout:g} s: {self.log_tail()}")

    async def probe(self, timeout: float) -> Probe:
        """Check that the program runs and the mount point can be listed."""
        if self.returncode is not None:
            return Probe(process_exit=self.returncode, log_tail=self.log_tail())
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._probes, _list_one, self.mountpoint)
        try:
            is_mount = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return Probe(timed_out=True)
        except OSError as e:
            return Probe(errno=e.errno, log_tail=self.log_tail(1))
        return Probe(is_mount=is_mount)

    async def stop(self, grace: float = 5.0) -> None:
        """Ask the program to unmount and exit; force it, then detach the mount point."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(self._probes, is_stale, self.mountpoint):
            await lazy_unmount(self.mountpoint, self._fusermount)
