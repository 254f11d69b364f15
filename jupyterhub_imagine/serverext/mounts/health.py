"""Decide a mount's health from what the probe saw (pure)."""

from __future__ import annotations

import errno
from dataclasses import dataclass

MOUNTED = "mounted"
UNHEALTHY = "unhealthy"
MOUNTING = "mounting"
UNMOUNTED = "unmounted"
ERROR = "error"
CREDENTIALS_REQUIRED = "credentials-required"

_ERRNO_HINTS = {
    errno.ENOTCONN: "the mount lost its connection to the mount program",
    errno.EIO: "the remote storage does not answer or refused the request",
    errno.EACCES: "the remote storage refused access (check the password or token)",
    errno.ELOOP: "the mount point is a symbolic link loop",
}


@dataclass(frozen=True)
class Probe:
    """What one health check observed."""

    process_exit: int | None = None  # exit code when the mount program has ended
    is_mount: bool = True
    errno: int | None = None  # error listing the mount point, if any
    timed_out: bool = False
    log_tail: str = ""


def classify(probe: Probe) -> tuple[str, str]:
    """(state, message) for a mount that should be up."""
    if probe.process_exit is not None:
        detail = f": {probe.log_tail}" if probe.log_tail else ""
        return UNHEALTHY, (
            f"The mount program exited (code {probe.process_exit}){detail}. Use remount."
        )
    if probe.errno is not None:
        name = errno.errorcode.get(probe.errno, str(probe.errno))
        hint = _ERRNO_HINTS.get(probe.errno, "the mount point cannot be read")
        detail = f" ({probe.log_tail})" if probe.log_tail else ""
        return UNHEALTHY, f"{name}: {hint}{detail}. Use remount once the storage is back."
    if probe.timed_out:
        return UNHEALTHY, "The mount does not answer in time; the remote may be down. Use remount."
    if not probe.is_mount:
        return UNHEALTHY, "The mount point is no longer mounted. Use remount."
    return MOUNTED, ""
