"""CVMFS repositories and software stacks found under a root directory.

Health and stack detection read the file system (blocking: callers run them in a worker thread);
the decisions (:func:`classify_repository`, :func:`stack_from_layout`) are pure.
"""

from __future__ import annotations

import errno
import os
from dataclasses import asdict, dataclass

from ..validation import UserError, check_relative_path

MOUNTED = "mounted"
MISSING = "missing"
BROKEN = "broken"

# EESSI-style: <repo>/versions/<version>/init/bash
# LCG-style: <repo>/lcg/views/<release>/<platform>/setup.sh
EESSI_INIT = ("init", "bash")
LCG_SETUP = "setup.sh"
LCG_VIEW_DIRS = ("lcg/views", "views")
MAX_SCAN = 2000  # entries read per directory while looking for stacks


@dataclass(frozen=True)
class Repository:
    name: str
    state: str
    error: str = ""
    message: str = ""


@dataclass(frozen=True)
class Stack:
    id: str  # path of the stack directory, relative to the root
    kind: str  # "eessi" | "lcg"
    repository: str
    name: str
    version: str
    init: str  # path of the init script, relative to the root

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def classify_repository(name: str, err: int | None, empty: bool) -> Repository:
    """State of one repository from the error seen reading it (pure)."""
    if err == errno.ENOENT:
        return Repository(name, MISSING, "ENOENT", "Not available on this server.")
    if err is not None:
        code = errno.errorcode.get(err, str(err))
        hint = {
            errno.ELOOP: "a symbolic link loop: the CVMFS client configuration is wrong",
            errno.ENOTCONN: "the CVMFS client is not connected (it crashed or was killed)",
            errno.EIO: "input/output error: the CVMFS client cannot fetch data",
        }.get(err, "the repository cannot be read")
        return Repository(name, BROKEN, code, f"{hint}. Ask your administrator.")
    if empty:
        # autofs shows an empty directory when a repository cannot be mounted
        return Repository(name, MISSING, "", "The repository is empty: it is not mounted.")
    return Repository(name, MOUNTED)


def probe_repository(root: str, name: str) -> Repository:
    """Read a repository's top directory (this triggers the autofs mount on real CVMFS)."""
    path = os.path.join(root, name)
    try:
        os.stat(path)
        with os.scandir(path) as entries:
            empty = next(entries, None) is None
    except OSError as e:
        return classify_repository(name, e.errno, False)
    return classify_repository(name, None, empty)


def repository_names(root: str, configured: list[str]) -> list[str]:
    """The configured repositories, else what the root lists (autofs lists only mounted ones)."""
    if configured:
        return list(configured)
    try:
        with os.scandir(root) as entries:
            return sorted(e.name for e in entries if not e.name.startswith("."))
    except OSError:
        return []


def _subdirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            names = []
            for i, entry in enumerate(entries):
                if i >= MAX_SCAN:
                    break
                if not entry.name.startswith(".") and entry.is_dir():
                    names.append(entry.name)
            return sorted(names)
    except OSError:
        return []


def stack_from_layout(repo: str, parts: tuple[str, ...]) -> Stack | None:
    """A stack from a path of directory names below a repository, if it looks like one (pure)."""
    if len(parts) == 2 and parts[0] == "versions":
        stack_id = f"{repo}/versions/{parts[1]}"
        return Stack(stack_id, "eessi", repo, repo, parts[1], f"{stack_id}/{'/'.join(EESSI_INIT)}")
    if len(parts) >= 3 and "/".join(parts[:-2]) in LCG_VIEW_DIRS:
        stack_id = "/".join((repo, *parts))
        version = f"{parts[-2]} {parts[-1]}"
        return Stack(stack_id, "lcg", repo, parts[-2], version, f"{stack_id}/{LCG_SETUP}")
    return None


def find_stacks(root: str, repo: str) -> list[Stack]:
    """EESSI versions and LCG views in one repository."""
    base = os.path.join(root, repo)
    found: list[Stack] = []
    for version in _subdirs(os.path.join(base, "versions")):
        if os.path.isfile(os.path.join(base, "versions", version, *EESSI_INIT)):
            stack = stack_from_layout(repo, ("versions", version))
            if stack:
                found.append(stack)
    for views in LCG_VIEW_DIRS:
        views_dir = os.path.join(base, views)
        for release in _subdirs(views_dir):
            for platform in _subdirs(os.path.join(views_dir, release)):
                if os.path.isfile(os.path.join(views_dir, release, platform, LCG_SETUP)):
                    stack = stack_from_layout(repo, (*views.split("/"), release, platform))
                    if stack:
                        found.append(stack)
    return found


def resolve(root: str, relative: object, what: str = "id") -> str:
    """An absolute path for a root-relative path, refusing anything that leaves the root."""
    rel = check_relative_path(relative, what, allow_empty=True)
    real_root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(real_root, rel))
    if path != real_root and not path.startswith(real_root + os.sep):
        raise UserError(f"'{what}' points outside the software root", "path-escape")
    return path


def stack_for(root: str, stack_id: object) -> Stack:
    """The stack with this id, checked on disk."""
    resolve(root, stack_id)  # refuses escapes (also through symbolic links)
    parts = tuple(check_relative_path(stack_id, "id").split("/"))
    stack = stack_from_layout(parts[0], parts[1:]) if len(parts) > 1 else None
    if stack is None or not os.path.isfile(resolve(root, stack.init)):
        raise UserError(
            f"no software stack at {stack_id!r}: expected versions/<v>/init/bash or "
            "lcg/views/<release>/<platform>/setup.sh",
            "not-a-stack",
            status=404,
        )
    return stack
