"""Find, and end, what the demo's servers left behind under its state directory.

Servers unmount their storage when they stop; this is the demo's last line of defence on the way
out (a server killed hard cannot), and the check the tests make: FUSE mounts below the state
directory and processes (rclone, jupyterhub-singleuser) whose command line names it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

WATCHED = ("rclone", "jupyterhub-singleuser", "configurable-http-proxy", "jupyterhub",
           "jupyterhub-imagine-culler")


def _watched(argv: list[str], programs: tuple[str, ...] = WATCHED) -> bool:
    """A program we watch, by the name of the executable or the script it runs; rclone only
    when mounting (the demo's own `rclone serve` is stopped by the demo)."""
    names = [os.path.basename(a) for a in argv[:2]]
    if "rclone" in names and "rclone" in programs:
        return "mount" in argv
    return any(n in programs for n in names)


def _unescape(field: str) -> str:
    """/proc/mounts escapes spaces and tabs as octal."""
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")


def fuse_mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + os.sep
    found = []
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[2].startswith("fuse"):
            point = _unescape(parts[1])
            if point.startswith(prefix):
                found.append(point)
    return found


def processes_naming(root: Path, programs: tuple[str, ...] = WATCHED) -> list[tuple[int, str]]:
    """(pid, command line) of ``programs`` whose command line or environment names root."""
    needle = str(root.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes()
                    .split(b"\0") if a]
            if not _watched(argv, programs):
                continue
            text = " ".join(argv)
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if needle in text or needle in environ:
            found.append((int(entry.name), text))
    return found


def clean_up_leftovers(root: Path) -> list[str]:
    """Unmount FUSE mounts and stop rclone/server processes under ``root``; say what was done."""
    done = []
    unmount = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount3"
    for point in fuse_mounts_under(root):
        subprocess.run([unmount, "-u", "-z", point], capture_output=True, check=False)
        done.append(f"unmounted {point}, left mounted by a server")
    for pid, text in processes_naming(root):
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            continue
        done.append(f"stopped process {pid} left running ({text[:80]})")
    return done
