"""Which branch nbgitpuller should pull for a link's ref: ``git ls-remote`` and a pure resolver.

nbgitpuller pulls branches (``git-pull?branch=``). A branch or tag is pulled as it is; a commit
sha is pulled through the branch whose tip it is, or (when no branch ends at it any more) through
the default branch, and the confirmation page says so.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from .spec import LinkError

_SHA_LEN = 40


@dataclass(frozen=True)
class Resolved:
    branch: str  # what nbgitpuller pulls ("" only when the repository has no default branch)
    commit: str  # the commit that branch points at now
    note: str = ""  # shown on the confirmation page (a commit that is not a branch tip)


def parse_ls_remote(text: str) -> tuple[str, dict[str, str]]:
    """(default branch, {ref name: sha}) from ``git ls-remote --symref`` output."""
    default, refs = "", {}
    for line in text.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            default = line[5:-5].removeprefix("refs/heads/")
            continue
        sha, _, name = line.partition("\t")
        if len(sha) == _SHA_LEN and name:
            refs[name] = sha
    return default, refs


def resolve(ref: str, default: str, refs: dict[str, str]) -> Resolved:
    """The branch to pull for ``ref``; a ref the repository does not have is a LinkError."""
    if not ref:
        if not default:
            raise LinkError("The repository has no default branch; name a branch in 'ref'")
        return Resolved(default, refs.get(f"refs/heads/{default}", ""))
    if f"refs/heads/{ref}" in refs:
        return Resolved(ref, refs[f"refs/heads/{ref}"])
    if f"refs/tags/{ref}" in refs:
        commit = refs.get(f"refs/tags/{ref}^{{}}", refs[f"refs/tags/{ref}"])
        return Resolved(ref, commit)
    if len(ref) == _SHA_LEN:
        tips = sorted(n for n, sha in refs.items() if sha == ref and n.startswith("refs/heads/"))
        if tips:
            branch = tips[0].removeprefix("refs/heads/")
            if f"refs/heads/{default}" in tips:
                branch = default
            return Resolved(branch, ref)
        if default:
            return Resolved(
                default,
                refs.get(f"refs/heads/{default}", ""),
                f"Commit {ref[:12]} is no longer the tip of a branch, and nbgitpuller can "
                f"only pull branches: you get branch {default!r} as it is now, which may "
                "differ from the commit linked. (To pin content, tag the commit and link the tag.)",
            )
    raise LinkError(f"The repository has no branch, tag or commit named {ref[:80]!r}")


async def ls_remote(repo: str, timeout: float, http_allowed: bool) -> str:
    """``git ls-remote --symref`` of ``repo`` (https, or http where allowed); never prompts."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true")
    env["GIT_ALLOW_PROTOCOL"] = "http:https" if http_allowed else "https"
    try:
        proc = await asyncio.create_subprocess_exec(
            "git", "-c", "credential.helper=", "ls-remote", "--symref", "--", repo,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:  # no git on the hub: the admin turns check_refs off or installs it
        raise LinkError(
            f"The hub cannot check repositories (git: {exc.strerror}); ask the admins to "
            "install git on the hub or set ImagineLinks.check_refs = False"
        ) from None
    try:
        out, _err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise LinkError(f"The repository did not answer within {timeout:g} s") from None
    if proc.returncode != 0:
        raise LinkError("The repository could not be read (does it exist, and is it public?)")
    return out.decode("utf-8", "replace")
