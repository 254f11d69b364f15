"""Launch links, parsed and checked: a pure module (no I/O) turning query strings into requests.

Two shapes reach the hub:

``/hub/imagine/launch?profile=<slug>&repo=<git url>&ref=<ref>&urlpath=<path>&opt-<name>=<v>``
    our own; ``urlpath`` is relative to the user's server (``lab/tree/<folder>/<file>``);
    ``labpath`` / ``filepath`` name a file relative to the repository instead.
``/hub/imagine/v2/<gh|gl|git>/<spec>/<ref>?urlpath=...|labpath=...|filepath=...``
    BinderHub's; its paths are relative to the repository (Binder's home is the repository), so
    they are moved into the folder the repository is pulled to.

Every check here refuses with a :class:`LinkError` whose message says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

MAX_QUERY = 4096
MAX_REPO = 512
MAX_REF = 255
MAX_PATH = 1024
MAX_OPTIONS = 16
MAX_OPTION_VALUE = 256

_SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
_OPTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_REF_RE = re.compile(r"^[A-Za-z0-9._/+-]+$")
_HOST_RE = re.compile(r"^[a-z0-9.-]+$")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_KNOWN = {"profile", "repo", "ref", "branch", "urlpath", "labpath", "filepath"}
# Server paths that open a file: BinderHub paths after them are moved into the repository folder.
_FILE_PREFIXES = ("lab/tree/", "doc/tree/", "tree/", "notebooks/", "edit/", "voila/render/")
PROVIDERS = {"gh": "GitHub", "gl": "GitLab", "git": "any git repository"}


class LinkError(ValueError):
    """A link that cannot be followed; the message is shown to the user as it is."""


@dataclass(frozen=True)
class RepoPolicy:
    """Which repository URLs links may name (see ``ImagineLinks`` for the settings)."""

    allowed_hosts: Sequence[str] = ()  # empty: any host; "*.example.org" matches subdomains
    http_hosts: Sequence[str] = ()  # hosts reachable over plain http (a local git server)


@dataclass(frozen=True)
class LaunchRequest:
    profile: str  # "" = the user's default profile
    repo: str  # "" = no repository: open urlpath only
    ref: str  # "" = the repository's default branch
    urlpath: str  # relative to the user's server, no leading slash
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return repo_folder(self.repo) if self.repo else ""

    @property
    def is_commit(self) -> bool:
        return bool(_SHA_RE.match(self.ref))


def _one(query: Mapping[str, Sequence[str]], name: str, limit: int) -> str:
    values = query.get(name) or []
    if len(values) > 1:
        raise LinkError(f"'{name}' is given {len(values)} times; give it once")
    value = values[0] if values else ""
    if len(value) > limit:
        raise LinkError(f"'{name}' is longer than {limit} characters")
    if _CONTROL_RE.search(value):
        raise LinkError(f"'{name}' contains control characters")
    return value.strip()


def _host_allowed(host: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.lower()
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def check_repo(url: str, policy: RepoPolicy) -> str:
    """A repository URL that is https (or plain http to an allowed host), without credentials."""
    if len(url) > MAX_REPO:
        raise LinkError(f"The repository URL is longer than {MAX_REPO} characters")
    if not url:
        raise LinkError("The link names no repository ('repo')")
    if _CONTROL_RE.search(url) or " " in url or "\\" in url:
        raise LinkError("The repository URL contains spaces, backslashes or control characters")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.netloc:
        raise LinkError(
            f"Repository URLs must start with https:// (not {url.split(':')[0][:20]!r}); "
            "file:, ssh:, git@ and other schemes are refused"
        )
    if "@" in parts.netloc or parts.username or parts.password:
        raise LinkError("Repository URLs must not carry credentials (user:password@host)")
    if not host or not _HOST_RE.match(host):
        raise LinkError("The repository URL has no valid host name")
    if scheme == "http" and not _host_allowed(host, policy.http_hosts):
        raise LinkError(f"Repository URLs must use https; {host} is not allowed over plain http")
    allowed = list(policy.allowed_hosts) + list(policy.http_hosts)
    if policy.allowed_hosts and not _host_allowed(host, allowed):
        raise LinkError(
            f"Repositories on {host} are not allowed here; allowed hosts: "
            + ", ".join(policy.allowed_hosts)
        )
    if parts.query or parts.fragment:
        raise LinkError("The repository URL must not have a query (?) or fragment (#)")
    segments = [s for s in parts.path.split("/") if s]
    if not segments or any(s in (".", "..") for s in segments):
        raise LinkError("The repository URL needs a path to a repository, without '..'")
    return url


def check_ref(ref: str) -> str:
    """A branch, tag or commit name as git accepts it ("" = the default branch)."""
    if len(ref) > MAX_REF:
        raise LinkError(f"'ref' is longer than {MAX_REF} characters")
    if not ref:
        return ""
    bad = (
        not _REF_RE.match(ref)
        or ref.startswith(("-", "/", "."))
        or ref.endswith(("/", ".lock", "."))
        or ".." in ref
        or "//" in ref
        or "/." in ref
    )
    if bad:
        raise LinkError(f"{ref[:80]!r} is not a branch, tag or commit name")
    return ref


def check_urlpath(path: str) -> str:
    """A path inside the user's server: relative, no scheme, no '..', no '//', no backslash."""
    if len(path) > MAX_PATH:
        raise LinkError(f"'urlpath' is longer than {MAX_PATH} characters")
    path = path.lstrip("/") if not path.startswith("//") else path
    decoded = unquote(unquote(path))
    for text in (path, decoded):
        head = text.split("?", 1)[0]
        if (
            "\\" in text
            or "//" in text
            or _CONTROL_RE.search(text)
            or ":" in head.split("/", 1)[0]
            or any(seg in ("..", ".") for seg in head.split("/"))
            or text.startswith("/")
        ):
            raise LinkError(
                f"{path[:80]!r} is not a path inside your server (no scheme, '//', '..' or '\\')"
            )
    return path


def repo_folder(repo: str) -> str:
    """The folder nbgitpuller pulls ``repo`` into: its last path segment, without ``.git``."""
    name = urlsplit(repo).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return name if _SEGMENT_RE.match(name) and name not in (".", "..") else "repository"


def _in_repo(target: str, path: str) -> str:
    path = check_urlpath(path)
    return f"lab/tree/{target}/{path}" if target else f"lab/tree/{path}"


def _options(query: Mapping[str, Sequence[str]]) -> dict[str, str]:
    names = [k for k in query if k.startswith("opt-")]
    if len(names) > MAX_OPTIONS:
        raise LinkError(f"At most {MAX_OPTIONS} profile options may be given")
    options = {}
    for key in names:
        name = key[4:]
        if not _OPTION_RE.match(name) or name == "profile":
            raise LinkError(f"{key[:70]!r} is not a profile option name")
        options[name] = _one(query, key, MAX_OPTION_VALUE)
    return options


def _profile(query: Mapping[str, Sequence[str]]) -> str:
    slug = _one(query, "profile", 63) or _one(query, "opt-profile", 63)
    if slug and not _SLUG_RE.match(slug):
        raise LinkError(f"{slug!r} is not a profile name")
    return slug


def _check_size(query: Mapping[str, Sequence[str]]) -> None:
    size = sum(len(k) + sum(len(v) for v in vs) for k, vs in query.items())
    if size > MAX_QUERY:
        raise LinkError(f"The link is longer than {MAX_QUERY} characters")


def parse_launch(query: Mapping[str, Sequence[str]], policy: RepoPolicy) -> LaunchRequest:
    """Our own shape: ``?profile=&repo=&ref=&urlpath=`` (or ``labpath``/``filepath``)."""
    _check_size(query)
    repo = _one(query, "repo", MAX_REPO)
    repo = check_repo(repo, policy) if repo else ""
    ref = check_ref(_one(query, "ref", MAX_REF) or _one(query, "branch", MAX_REF))
    if ref and not repo:
        raise LinkError("'ref' needs a repository ('repo')")
    request = LaunchRequest(_profile(query), repo, ref, "", _options(query))
    return _with_path(request, query, binder=False)


def _with_path(
    request: LaunchRequest, query: Mapping[str, Sequence[str]], *, binder: bool
) -> LaunchRequest:
    given = {n: _one(query, n, MAX_PATH) for n in ("urlpath", "labpath", "filepath")}
    given = {n: v for n, v in given.items() if v}
    if len(given) > 1:
        raise LinkError(f"Give one of urlpath, labpath and filepath, not {sorted(given)}")
    target = request.target
    if "labpath" in given or "filepath" in given:
        urlpath = _in_repo(target, next(iter(given.values())))
    elif "urlpath" in given:
        urlpath = check_urlpath(given["urlpath"])
        if binder and target:
            for prefix in _FILE_PREFIXES:
                if urlpath.startswith(prefix):
                    urlpath = f"{prefix}{target}/{urlpath[len(prefix):]}"
                    break
    else:
        urlpath = f"lab/tree/{target}" if target else "lab"
    return LaunchRequest(request.profile, request.repo, request.ref, urlpath, request.options)


def _segment(text: str, what: str) -> str:
    if not _SEGMENT_RE.match(text) or text in (".", ".."):
        raise LinkError(f"{text[:80]!r} is not a valid {what}")
    return text


def parse_v2(
    raw_path: str, query: Mapping[str, Sequence[str]], policy: RepoPolicy
) -> LaunchRequest:
    """BinderHub's shape; ``raw_path`` is what follows ``/v2/``, still percent-encoded."""
    _check_size(query)
    if len(raw_path) > MAX_REPO + MAX_REF + 16:
        raise LinkError("The link's path is too long")
    parts = raw_path.split("/")
    provider = parts[0]
    if provider == "gh":
        if len(parts) < 4:
            raise LinkError("GitHub links look like /v2/gh/<owner>/<repository>/<ref>")
        owner = _segment(unquote(parts[1]), "GitHub owner")
        name = _segment(unquote(parts[2]), "GitHub repository")
        repo = f"https://github.com/{owner}/{name.removesuffix('.git')}"
        ref = unquote("/".join(parts[3:]))
    elif provider in ("gl", "git"):
        if len(parts) != 3:
            raise LinkError(
                f"{PROVIDERS[provider]} links look like /v2/{provider}/<url-encoded "
                f"{'project' if provider == 'gl' else 'repository URL'}>/<ref>"
            )
        spec = unquote(parts[1])
        if provider == "gl":
            segments = [_segment(s, "GitLab project path") for s in spec.split("/")]
            if len(segments) < 2:
                raise LinkError("GitLab projects look like <group>/<project>")
            repo = "https://gitlab.com/" + "/".join(quote(s) for s in segments)
        else:
            repo = spec
        ref = unquote(parts[2])
    else:
        raise LinkError(f"Unknown provider {provider[:20]!r}; use gh, gl or git")
    repo = check_repo(repo, policy)
    ref = check_ref("" if ref in ("HEAD", "") else ref)
    request = LaunchRequest(_profile(query), repo, ref, "", _options(query))
    return _with_path(request, query, binder=True)


def unknown_parameters(query: Mapping[str, Sequence[str]]) -> list[str]:
    return sorted(k for k in query if k not in _KNOWN and not k.startswith("opt-"))
