"""What the Share button needs to know about a path: its repository, remote, commit and changes.

Pushed means "on one of the remote's branches as this clone last saw them" (after the last
fetch, pull or push); nothing here contacts the remote.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from ...links.spec import repo_folder
from .git import GitUnavailable, SafeGit
from .remotes import share_remote


@dataclass
class ShareInfo:
    """The answer of ``GET share?path=``; ``shareable`` says whether a launch link can be made."""

    path: str
    repository: bool = False
    shareable: bool = False
    reason: str = ""  # why not shareable: not-a-repository, no-remote, ssh-remote, ...
    message: str = ""
    remote: str = ""  # https URL without credentials
    remote_name: str = ""
    commit: str = ""  # the work tree's HEAD
    branch: str = ""  # "" when detached
    pushed: bool = False  # HEAD is on one of the remote's branches
    pushed_commit: str = ""  # what a link carries: HEAD, or its newest pushed ancestor
    unpushed_commits: int = 0
    uncommitted_changes: int = 0  # tracked files changed or staged, in the whole repository
    untracked_files: int = 0
    file_changed: bool = False  # the path itself (or something under it) has uncommitted changes
    file_in_commit: bool = False  # the path exists in pushed_commit
    path_in_repository: str = ""
    repository_path: str = ""  # the work tree's root, relative to the server root
    folder: str = ""  # where a launch link's nbgitpuller puts the repository (under the home)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("extra")
        return body

    def refuse(self, reason: str, message: str) -> ShareInfo:
        self.shareable, self.reason, self.message = False, reason, message
        return self


def parse_status(text: str, path_in_repo: str) -> tuple[int, int, bool]:
    """(changed tracked files, untracked files, whether ``path_in_repo`` is among them) from
    ``git status --porcelain=v1 -z``."""
    changed = untracked = 0
    touched = False
    entries = iter(text.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        code, name = entry[:2], entry[3:]
        if code[0] in "RC":
            next(entries, None)  # the rename's source follows
        if code == "??":
            untracked += 1
        else:
            changed += 1
        under = not path_in_repo or name == path_in_repo or name.startswith(
            path_in_repo.rstrip("/") + "/"
        )
        touched = touched or under
    return changed, untracked, touched


def choose_remote(remotes: list[str], upstream_remote: str) -> str:
    if upstream_remote in remotes:
        return upstream_remote
    if "origin" in remotes:
        return "origin"
    return sorted(remotes)[0] if remotes else ""


async def _open(git: SafeGit, info: ShareInfo, root: str) -> str | None:
    """The work tree's root, or None (and ``info`` says why) when there is no usable one."""
    top = await git("rev-parse", "--show-toplevel")
    if top.code != 0:
        if "dubious ownership" in top.err:
            info.refuse("unreadable", "The repository belongs to another user; git will not "
                        "read it for you (safe.directory).")
        else:
            info.refuse("not-a-repository", "The file is not in a git repository.")
        return None
    toplevel = os.path.realpath(top.out.strip())
    if os.path.commonpath([toplevel, root]) != root:
        info.refuse("not-a-repository", "The file is not in a git repository inside your files.")
        return None
    info.repository = True
    config = await git.text("config", "--name-only", "--get-regexp", r"^filter\..*\.")
    drivers = sorted({n[7:].rsplit(".", 1)[0] for n in config.splitlines() if n.count(".") >= 2})
    git.neutralise_filters(drivers)
    return toplevel


async def _remote(git: SafeGit, info: ShareInfo) -> bool:
    if info.branch:
        upstream = await git.text(
            "for-each-ref", "--format=%(upstream:remotename)", f"refs/heads/{info.branch}"
        )
    else:
        upstream = ""
    name = choose_remote((await git.text("remote")).splitlines(), upstream)
    info.remote_name = name
    if not name:
        info.refuse("no-remote", "The repository has no remote: push it to a git host first.")
        return False
    remote = share_remote(await git.text("remote", "get-url", "--", name))
    if not remote.url:
        info.refuse(remote.reason, remote.message)
        return False
    info.remote = remote.url
    info.folder = repo_folder(remote.url)
    info.extra["upstream"] = await git.text(
        "for-each-ref", "--format=%(upstream)", f"refs/heads/{info.branch}"
    ) if info.branch and upstream == name else ""
    return True


async def _pushed(git: SafeGit, info: ShareInfo) -> None:
    remote_refs = f"refs/remotes/{info.remote_name}/"
    on_remote = await git.text("for-each-ref", "--contains", info.commit, remote_refs)
    info.pushed = bool(on_remote)
    if info.pushed:
        info.pushed_commit = info.commit
        return
    for base in (info.extra.get("upstream"), f"{remote_refs}HEAD"):
        if base and await git.text("rev-parse", "--verify", "-q", f"{base}^{{commit}}"):
            info.pushed_commit = await git.text("merge-base", info.commit, base)
            if info.pushed_commit:
                break
    count = await git.text(
        "rev-list", "--count", info.commit, "--not", f"--remotes={info.remote_name}"
    )
    info.unpushed_commits = int(count) if count.isdigit() else 0


async def probe(root: str, path: str) -> ShareInfo:
    """Everything the Share dialog shows for ``path`` (relative to ``root``, already checked)."""
    info = ShareInfo(path=path)
    full = os.path.realpath(os.path.join(root, path))
    cwd = full if os.path.isdir(full) else os.path.dirname(full)
    git = SafeGit(cwd, ceiling=os.path.dirname(root) or root)
    try:
        toplevel = await _open(git, info, root)
        if toplevel is None:
            return info
        info.path_in_repository = os.path.relpath(full, toplevel).replace(os.sep, "/")
        if info.path_in_repository == ".":
            info.path_in_repository = ""
        rel_top = os.path.relpath(toplevel, root).replace(os.sep, "/")
        info.repository_path = "" if rel_top == "." else rel_top
        return await _facts(git, info, toplevel)
    except GitUnavailable as exc:
        return info.refuse("git-unavailable", str(exc))


async def _facts(git: SafeGit, info: ShareInfo, toplevel: str) -> ShareInfo:
    info.commit = await git.text("rev-parse", "--verify", "-q", "HEAD^{commit}")
    if not info.commit:
        return info.refuse("no-commits", "The repository has no commits yet.")
    info.branch = await git.text("symbolic-ref", "-q", "--short", "HEAD")
    git.cwd = toplevel
    status = await git(
        "status", "--porcelain=v1", "-z", "--ignore-submodules=all", "--untracked-files=normal"
    )
    if status.code != 0:
        return info.refuse("unreadable", "git could not read the repository's changes.")
    info.uncommitted_changes, info.untracked_files, info.file_changed = parse_status(
        status.out, info.path_in_repository
    )
    if not await _remote(git, info):
        return info
    await _pushed(git, info)
    if not info.pushed_commit:
        return info.refuse(
            "not-pushed",
            f"Nothing of this branch is on the remote {info.remote_name!r} yet: push it first.",
        )
    spec = f"{info.pushed_commit}:{info.path_in_repository}"
    info.file_in_commit = (await git("cat-file", "-e", spec)).code == 0
    info.shareable = True
    return info
