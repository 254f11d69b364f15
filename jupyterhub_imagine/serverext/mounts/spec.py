"""Mount definitions: request validation, presets, and the rclone/oneclient command (pure).

A request body becomes a :class:`MountSpec` (everything that may be saved) plus a
:class:`Secrets` (what may not). Commands are argument lists; secrets travel only in the child's
environment, never in argv.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from ..validation import (
    UserError,
    check_bool,
    check_hostname,
    check_name,
    check_relative_path,
    check_text,
    only_fields,
)

BACKENDS = ("webdav", "s3", "onedata")
WEBDAV_PRESETS = ("webdav", "nextcloud", "b2drop")
AUTH_KINDS = ("password", "oidc", "none")
B2DROP_URL = "https://b2drop.eudat.eu/remote.php/webdav/"
REMOTE = "imagine"  # name of the on-the-fly rclone remote, defined by environment variables
_ENV_PREFIX = f"RCLONE_CONFIG_{REMOTE.upper()}_"
_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,62}")
_REGION_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_PORT_RE = re.compile(r"[0-9]{1,5}")
_SECRET_BAD_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ANY_HOST = None  # insecure_http_hosts value that allows http:// to every host (admin mounts)

_COMMON = {"name", "backend", "path", "read_only"}
_FIELDS = {
    "webdav": _COMMON | {"preset", "url", "user", "auth", "password"},
    "s3": _COMMON | {"endpoint", "bucket", "region", "access_key_id", "secret_access_key"},
    "onedata": _COMMON | {"host", "auth", "token"},
}
SECRET_FIELDS = ("password", "secret_access_key", "token")


@dataclass(frozen=True)
class MountSpec:
    """Everything about a mount that may be saved and shown (no secrets)."""

    name: str
    backend: str
    preset: str = ""
    url: str = ""
    user: str = ""
    auth: str = "none"
    endpoint: str = ""
    bucket: str = ""
    region: str = ""
    access_key_id: str = ""
    host: str = ""
    path: str = ""
    read_only: bool = False
    predefined: bool = False
    automount: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", None)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MountSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def needs_secret(self) -> bool:
        """Whether mounting needs a value the user types (kept in memory only)."""
        return self.auth == "password" or self.backend == "s3"


@dataclass
class Secrets:
    """Values that are never saved, logged or put in a command line."""

    values: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show values, even in a debugger or traceback
        return f"Secrets({sorted(self.values)})"

    def all(self) -> list[str]:
        return [v for v in self.values.values() if v]


@dataclass(frozen=True)
class Command:
    """A child process to start: argv (no secrets), extra environment and rclone configuration
    (both may hold secrets; the configuration reaches rclone through an in-memory file only)."""

    argv: list[str]
    env: dict[str, str]
    config: str = field(default="", repr=False)

    def __repr__(self) -> str:  # never show the environment's or configuration's values
        return f"Command(argv={self.argv!r}, env={sorted(self.env)})"


def check_url(value: Any, what: str, *, insecure_http_hosts: Collection[str] | None = ()) -> str:
    """An https:// URL without embedded credentials; http:// only to the hosts listed.

    ``insecure_http_hosts``: host names (or addresses) that may be reached over plain http;
    ``None`` allows every host (mounts the administrator predefined).
    """
    text = check_text(value, what, max_chars=2048)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise UserError(f"'{what}' is not a valid URL", reason="invalid-url") from None
    del port
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UserError(f"'{what}' must be an https:// URL", reason="invalid-url")
    check_hostname(parts.hostname, f"the host of '{what}'")
    if parts.username or parts.password or "@" in parts.netloc:
        raise UserError(
            f"'{what}' must not contain a user or password; use the 'user' and 'password' fields",
            reason="invalid-url",
        )
    if " " in text:
        raise UserError(f"'{what}' must not contain spaces (encode them as %20)", "invalid-url")
    allowed = insecure_http_hosts
    if parts.scheme == "http" and allowed is not None and parts.hostname not in allowed:
        hosts = ", ".join(sorted(allowed)) or "none are"
        raise UserError(
            f"'{what}' must use https:// so passwords are not sent in clear text; plain "
            f"http:// is allowed only to the hosts the administrator lists in "
            f"ImagineServerExtension.insecure_http_hosts ({hosts})",
            reason="insecure-url",
        )
    return text


def _secret(body: dict[str, Any], key: str, required: bool) -> dict[str, str]:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise UserError(f"'{key}' is required for this mount", reason="missing-secret")
        return {}
    if not isinstance(value, str) or len(value) > 8192 or _SECRET_BAD_RE.search(value):
        # never echo the value itself
        raise UserError(f"'{key}' must be a single-line string", reason="invalid-secret")
    return {key: value}


def _webdav(
    body: dict[str, Any], base: dict[str, Any], http: Collection[str] | None
) -> tuple[dict, dict]:
    preset = body.get("preset", "webdav")
    if preset not in WEBDAV_PRESETS:
        raise UserError(f"'preset' must be one of {', '.join(WEBDAV_PRESETS)}", "unknown-preset")
    auth = body.get("auth", "password")
    if auth not in AUTH_KINDS:
        raise UserError(f"'auth' must be one of {', '.join(AUTH_KINDS)}", reason="invalid-auth")
    needs_user = auth == "password" or preset == "nextcloud"
    user = check_text(body.get("user"), "user", required=needs_user)
    if "/" in user:
        raise UserError("'user' must not contain '/'", reason="invalid-field")
    if preset == "b2drop":
        url = B2DROP_URL
        if body.get("url") not in (None, "", B2DROP_URL):
            raise UserError("the B2DROP preset has a fixed URL; leave 'url' out", "invalid-url")
    else:
        url = check_url(body.get("url"), "url", insecure_http_hosts=http)
        if preset == "nextcloud" and "/remote.php/" not in url:
            url = f"{url.rstrip('/')}/remote.php/dav/files/{quote(user, safe='@')}/"
    secrets = _secret(body, "password", required=auth == "password")
    return {**base, "preset": preset, "url": url, "user": user, "auth": auth}, secrets


def _s3(
    body: dict[str, Any], base: dict[str, Any], http: Collection[str] | None
) -> tuple[dict, dict]:
    bucket = body.get("bucket")
    if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
        raise UserError(
            "'bucket' must be 2-63 letters, digits, '.', '_' or '-'", reason="invalid-bucket"
        )
    endpoint = check_url(body.get("endpoint"), "endpoint", insecure_http_hosts=http)
    region = check_text(body.get("region"), "region", max_chars=64, required=False)
    if region and not _REGION_RE.fullmatch(region):
        raise UserError("'region' must be letters, digits and '-'", reason="invalid-field")
    key_id = check_text(body.get("access_key_id"), "access_key_id", max_chars=256)
    secrets = _secret(body, "secret_access_key", required=True)
    fields = {"endpoint": endpoint, "bucket": bucket, "region": region, "access_key_id": key_id}
    return {**base, **fields, "auth": "password"}, secrets


def _onedata(
    body: dict[str, Any], base: dict[str, Any], http: Collection[str] | None
) -> tuple[dict, dict]:
    host = check_text(body.get("host"), "host", max_chars=260)
    name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    if port and not (_PORT_RE.fullmatch(port) and 0 < int(port) < 65536):
        raise UserError("the port in 'host' must be a number from 1 to 65535", "invalid-host")
    check_hostname(name, "host")
    auth = body.get("auth", "password")
    if auth not in ("password", "oidc"):
        raise UserError("'auth' must be 'password' (a OneData token) or 'oidc'", "invalid-auth")
    secrets = _secret(body, "token", required=auth == "password")
    return {**base, "host": host, "auth": auth}, secrets


_PARSERS = {"webdav": _webdav, "s3": _s3, "onedata": _onedata}


def parse_request(
    body: dict[str, Any], *, insecure_http_hosts: Collection[str] | None = ()
) -> tuple[MountSpec, Secrets]:
    """Validate a create request; the secret fields go into :class:`Secrets` only."""
    backend = body.get("backend")
    if backend not in BACKENDS:
        raise UserError(f"'backend' must be one of {', '.join(BACKENDS)}", reason="unknown-backend")
    only_fields(body, _FIELDS[backend], f"a {backend} mount")
    base = {
        "name": check_name(body.get("name")),
        "backend": backend,
        "path": check_relative_path(body.get("path"), "path"),
        "read_only": check_bool(body.get("read_only"), "read_only"),
    }
    fields, secrets = _PARSERS[backend](body, base, insecure_http_hosts)
    return MountSpec(**fields), Secrets(secrets)


def parse_secrets(spec: MountSpec, body: dict[str, Any]) -> Secrets:
    """Secrets re-entered for a remount (after a server restart nothing is remembered)."""
    key = {"webdav": "password", "s3": "secret_access_key", "onedata": "token"}[spec.backend]
    only_fields(body, {key}, f"a remount of a {spec.backend} mount")
    return Secrets(_secret(body, key, required=False))


def parse_predefined(entry: Any) -> MountSpec:
    """An admin-predefined mount: same fields as a request, without secrets, plus automount."""
    if not isinstance(entry, dict):
        raise UserError("a predefined mount must be a dict")
    found = sorted(set(entry) & set(SECRET_FIELDS))
    if found:
        raise UserError(
            f"predefined mount {entry.get('name')!r} must not contain {found}: use auth 'oidc' "
            "or let users enter their own password"
        )
    body = {k: v for k, v in entry.items() if k != "automount"}
    if body.get("auth") == "password":
        body["password"] = "placeholder"  # validated as if given; never stored
    spec, _ = parse_request(body, insecure_http_hosts=ANY_HOST)
    fields = {**spec.to_dict(), "predefined": True}
    fields["automount"] = check_bool(entry.get("automount"), "automount")
    return MountSpec.from_dict(fields)


def _remote_path(spec: MountSpec) -> str:
    if spec.backend == "s3":
        return f"{REMOTE}:{spec.bucket}/{spec.path}".rstrip("/")
    return f"{REMOTE}:{spec.path}"


def rclone_env(spec: MountSpec, secrets: Secrets, *, obscured: str = "", bearer: str = "") -> dict:
    """The remote's settings, named like rclone's ``RCLONE_CONFIG_IMAGINE_*`` variables; the
    mount gets them as a configuration file (:func:`rclone_config_text`), not as variables.

    ``obscured``: the password after ``rclone obscure`` (rclone wants it in that form).
    """
    env: dict[str, str] = {}
    if spec.backend == "webdav":
        vendor = "nextcloud" if spec.preset in ("nextcloud", "b2drop") else "other"
        env.update(TYPE="webdav", URL=spec.url, VENDOR=vendor)
        if spec.user:
            env["USER"] = spec.user
        if spec.auth == "password":
            env["PASS"] = obscured
        elif spec.auth == "oidc":
            env["BEARER_TOKEN"] = bearer
    elif spec.backend == "s3":
        env.update(
            TYPE="s3",
            PROVIDER="Other",
            ENV_AUTH="false",
            ENDPOINT=spec.endpoint,
            ACCESS_KEY_ID=spec.access_key_id,
            SECRET_ACCESS_KEY=secrets.values.get("secret_access_key", ""),
        )
        if spec.region:
            env["REGION"] = spec.region
    return {_ENV_PREFIX + k: v for k, v in env.items()}


def rclone_config_text(env: dict[str, str]) -> str:
    """The ``[imagine]`` section of an rclone configuration file holding ``env``'s settings.

    A remote defined in a configuration file keeps its plain name (a remote defined through
    environment variables gets a suffix hashed from every value, the password included, which
    would move its VFS cache at every mount). Values never hold a line break (validated).
    """
    lines = [f"[{REMOTE}]"]
    for key, value in env.items():
        if "\n" in value or "\r" in value:
            raise ValueError("rclone configuration values must be single-line")
        lines.append(f"{key[len(_ENV_PREFIX) :].lower()} = {value}")
    return "\n".join(lines) + "\n"


def rclone_mount_command(
    spec: MountSpec, mountpoint: str, *, rclone: str, extra_args: list[str], env: dict[str, str]
) -> Command:
    """``rclone mount imagine:<path> <mountpoint> ...`` with the remote defined by ``env``'s
    settings, passed as a configuration file (see :func:`rclone_config_text`)."""
    argv = [rclone, "mount", _remote_path(spec), mountpoint, *extra_args]
    if spec.read_only:
        argv.append("--read-only")
    return Command(argv=argv, env={}, config=rclone_config_text(env))


def oneclient_command(spec: MountSpec, mountpoint: str, *, oneclient: str, token: str) -> Command:
    """``oneclient -f <mountpoint>``; host and token go through its environment variables."""
    env = {"ONECLIENT_PROVIDER_HOST": spec.host, "ONECLIENT_ACCESS_TOKEN": token}
    argv = [oneclient, "-f", mountpoint]
    if spec.read_only:
        argv += ["-o", "ro"]
    return Command(argv=argv, env=env)


def public_view(spec: MountSpec) -> dict[str, Any]:
    """What the API shows about a definition."""
    data = spec.to_dict()
    data.setdefault("read_only", False)
    data.setdefault("predefined", False)
    data["needs_secret"] = spec.needs_secret
    return data
