"""A git remote as a URL others can pull: a pure module (no I/O).

Launch links pull over https, so a remote is shown as an https URL without credentials. ssh and
scp-style remotes of well-known public hosts have an https twin; others cannot be shared, and
the answer says why. The raw remote never appears in a message (it may carry a token).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ...links.spec import LinkError, RepoPolicy, check_repo

#: Hosts whose ssh remotes (git@host:org/repo) have the same repository at https://host/org/repo.
HTTPS_TWIN_HOSTS = frozenset({"github.com", "gitlab.com", "bitbucket.org", "codeberg.org"})

_SCP_RE = re.compile(r"(?:[^@/:]+@)?(?P<host>[A-Za-z0-9.-]{2,}):(?!//)(?P<path>[^\\]+)")
_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git", "git")


@dataclass(frozen=True)
class ShareRemote:
    url: str  # https (or http) URL without credentials; "" when the remote cannot be shared
    reason: str = ""  # machine-readable code when url is ""
    message: str = ""  # what to do about it, for the person sharing


def _refuse(reason: str, message: str) -> ShareRemote:
    return ShareRemote("", reason, message)


def _twin(host: str, path: str) -> ShareRemote:
    host = host.lower()
    if host not in HTTPS_TWIN_HOSTS:
        return _refuse(
            "ssh-remote",
            f"The remote is reached over ssh on {host[:100]}; others cannot pull it from a "
            "link. Add an https remote (git remote set-url origin https://...) to share it.",
        )
    return _checked(f"https://{host}/{path.strip('/').removeprefix('~')}")


def _checked(url: str) -> ShareRemote:
    parts = urlsplit(url)
    policy = RepoPolicy(http_hosts=(parts.hostname or "",) if parts.scheme == "http" else ())
    try:
        return ShareRemote(check_repo(url, policy))
    except LinkError as exc:
        return _refuse("unsupported-remote", f"The remote cannot be used in a link: {exc}")


def share_remote(raw: str) -> ShareRemote:
    """The remote ``raw`` (as in ``git remote get-url``) as a URL a launch link can carry."""
    raw = raw.strip()
    if not raw:
        return _refuse("no-remote", "The repository has no remote to share from.")
    if re.match(r"[A-Za-z0-9+.-]+::", raw):  # a remote helper (ext::, fd::, ...)
        return _refuse("unsupported-remote", "Remotes through a git remote helper cannot be "
                       "used in a link; use an https remote.")
    if "://" not in raw:
        scp = _SCP_RE.fullmatch(raw)
        if scp and not raw.startswith(("/", ".", "~")):
            return _twin(scp["host"], scp["path"])
        return _refuse(
            "local-remote",
            "The remote is a folder on this machine; push the repository to a git host first.",
        )
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme in ("https", "http"):
        host = parts.hostname or ""
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        return _checked(urlunsplit((scheme, netloc, parts.path, "", "")))
    if scheme in _SSH_SCHEMES:
        return _twin(parts.hostname or "", parts.path)
    if scheme == "file":
        return share_remote("/")
    return _refuse(
        "unsupported-remote",
        f"Remotes of the kind {scheme[:20]!r} cannot be used in a link; use an https remote.",
    )
