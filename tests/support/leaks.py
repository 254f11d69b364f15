"""What a test run must not leave behind: proxies, hubs, single-user servers, rclone and FUSE
mounts. The suite's conftest notes what was there before the run and fails the run on what is
left after it (a leak in the tests is a leak for users too)."""

from __future__ import annotations

import re
import time
from pathlib import Path

PATTERN = re.compile(
    r"configurable-http-proxy|jupyterhub-singleuser|jupyterhub\.singleuser|"
    r"-m jupyterhub\b|bin/jupyterhub\b|jupyterhub-imagine-culler|rclone (mount|serve)|"
    r"oneclient|oidc_provider\.mjs|\bprometheus\b.*--config"
)


def processes(mine: tuple[str, ...] = ()) -> dict[int, str]:
    """pid -> command line of the processes a test run may start; with ``mine``, only those
    whose command line or working directory lies under one of these paths (this checkout, its
    virtual environment, the run's temporary folder), so other checkouts' runs do not count."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if args and PATTERN.search(args) and (not mine or _ours(entry, args, mine)):
            out[int(entry.name)] = args.strip()
    return out


def _ours(entry: Path, args: str, mine: tuple[str, ...]) -> bool:
    try:
        cwd = str((entry / "cwd").resolve())
    except OSError:
        cwd = ""
    return any(p in args or cwd.startswith(p) for p in mine)


def fuse_mounts() -> set[str]:
    """Mount points of FUSE file systems (rclone and oneclient mounts)."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return set()
    fields = [line.split() for line in lines]
    return {f[1] for f in fields if len(f) > 2 and "fuse" in f[2]}


def leftovers(
    before_pids: set[int], before_mounts: set[str], mine: tuple[str, ...], wait: float = 15.0
) -> list[str]:
    """What appeared since ``before`` and is still there after up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        procs = {p: a for p, a in processes(mine).items() if p not in before_pids}
        mounts = {m for m in fuse_mounts() - before_mounts if m.startswith(mine)}
        if not procs and not mounts or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return [f"process {p}: {a[:200]}" for p, a in sorted(procs.items())] + [
        f"FUSE mount: {m}" for m in sorted(mounts)
    ]
