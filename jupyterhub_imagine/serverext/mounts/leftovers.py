"""What a mount may leave behind: writes not uploaded yet, and FUSE mounts of a dead server.

Both are read from the file system (blocking: callers run them in a worker thread or at start);
:func:`parse_mountinfo` and :func:`dirty_in` are pure.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable

# rclone's VFS cache keeps one JSON metadata file per cached file, under vfsMeta/<remote>/
META_DIR = "vfsMeta"
MAX_LISTED = 1000  # metadata files read per check: enough to name what is pending


def cache_folder(cache_root: str, user: str, name: str) -> str:
    """The VFS cache of one mount: derived from the user and the mount name only, so pending
    writes are found again (and uploaded) by the next mount of the same name."""
    safe_user = "".join(c if c.isalnum() or c in "._@-" else "_" for c in user) or "user"
    return os.path.join(cache_root, f"{safe_user}.{name}")


def dirty_in(meta: dict[str, object]) -> bool:
    """Whether one rclone VFS metadata record is a write not uploaded yet (pure)."""
    return meta.get("Dirty") is True


def pending_uploads(cache: str) -> list[str]:
    """Paths (relative to the mount) written through the mount but not uploaded yet."""
    top = os.path.join(cache, META_DIR)
    found: list[str] = []
    seen = 0
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            seen += 1
            if seen > MAX_LISTED:
                return found
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    meta = json.loads(f.read(65536))
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and dirty_in(meta):
                # vfsMeta/<remote>/<path in the mount>
                relative = os.path.relpath(path, top).split(os.sep, 1)
                found.append(relative[1] if len(relative) > 1 else relative[0])
    return found


def describe(paths: list[str], most: int = 5) -> str:
    """'a.txt, b/c.txt and 3 more' (pure)."""
    shown = ", ".join(repr(p) for p in paths[:most])
    rest = len(paths) - most
    return f"{shown} and {rest} more" if rest > 0 else shown


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(lines: Iterable[str], root: str) -> list[str]:
    """FUSE mount points directly below ``root`` in /proc/self/mountinfo lines (pure)."""
    prefix = root.rstrip("/") + "/"
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or "-" not in fields:
            continue
        point = _unescape(fields[4])
        fstype = fields[fields.index("-") + 1]
        below = point[len(prefix) :] if point.startswith(prefix) else "/"
        if fstype.startswith("fuse") and below and "/" not in below:
            found.append(point)
    return found


def orphan_mounts(root: str) -> list[str]:
    """FUSE mounts below ``root`` (alive or dead) that this process did not make."""
    try:
        with open("/proc/self/mountinfo") as f:
            return parse_mountinfo(f, root)
    except OSError:
        return []


def unmount_orphans(root: str, fusermount: str | None, env: dict[str, str]) -> list[str]:
    """Detach every FUSE mount below ``root`` (left by a server that was killed)."""
    points = orphan_mounts(root)
    for point in points:
        argv = [fusermount, "-u", "-z", point] if fusermount else ["umount", "-l", point]
        subprocess.run(argv, env=env, check=False, timeout=15, capture_output=True)
    return points
