"""Start and stop the development OpenID provider (``oidc_provider.mjs``) from Python."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any


def terminate(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM a child process and reap it; SIGKILL it if it outlives ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)

DEMO_DIR = Path(__file__).resolve().parent
SCRIPT = DEMO_DIR / "oidc_provider.mjs"
USERS_FILE = DEMO_DIR / "users.json"
SHAPES = ("checkin", "keycloak", "umbrellaid")


class OIDCProviderError(RuntimeError):
    """The development provider could not be started or did not answer."""


@dataclass
class OIDCClient:
    """One OAuth client registered with the provider."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    token_endpoint_auth_method: str = "client_secret_basic"


def load_users(shape: str, path: Path = USERS_FILE) -> list[dict[str, Any]]:
    """Users from ``users.json`` with the claims of ``shape`` merged in."""
    data = json.loads(path.read_text())
    users = []
    for entry in data["users"]:
        extra = entry.get("shapes", {}).get(shape, {})
        users.append(
            {
                "username": entry["username"],
                "password": entry["password"],
                "claims": {**entry.get("claims", {}), **extra.get("claims", {})},
                "access_token_claims": extra.get("access_token_claims", {}),
            }
        )
    return users


def find_node() -> str:
    """Path of the ``node`` executable, or a clear error."""
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise OIDCProviderError("node (Node.js 20 or newer) is not on PATH")
    return node


def check_node_modules() -> None:
    if not (DEMO_DIR / "node_modules" / "oidc-provider").is_dir():
        raise OIDCProviderError(
            f"{DEMO_DIR / 'node_modules'} is missing: run `make demo` or `make test` "
            f"(or `npm ci --prefix {DEMO_DIR}`) first"
        )


class OIDCProvider:
    """A development OpenID provider in a Node subprocess, bound to loopback.

    >>> with OIDCProvider(shape="checkin", clients=[client]) as op:
    ...     op.issuer   # e.g. http://127.0.0.1:40123/auth/realms/egi
    """

    def __init__(
        self,
        shape: str = "checkin",
        clients: list[OIDCClient] | None = None,
        users: list[dict[str, Any]] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        realm: str = "imagine",
        ttl: dict[str, int] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, not {shape!r}")
        self.shape = shape
        self.clients = list(clients or [])
        self.users = users if users is not None else load_users(shape)
        self.port = port
        self.host = host
        self.realm = realm
        self.ttl = dict(ttl or {})
        self.startup_timeout = startup_timeout
        self.admin_token = secrets.token_urlsafe(24)
        self.issuer = ""
        self._proc: subprocess.Popen[str] | None = None
        self._log: deque[str] = deque(maxlen=200)

    @property
    def url(self) -> str:
        """Base URL of the server (scheme, host and port, no path)."""
        if not self.issuer:
            raise OIDCProviderError("the provider is not running")
        scheme, _, rest = self.issuer.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @property
    def log(self) -> str:
        """The provider's recent output, for failure messages."""
        return "\n".join(self._log)

    def config(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "port": self.port,
            "host": self.host,
            "realm": self.realm,
            "clients": [c.__dict__ for c in self.clients],
            "users": self.users,
            "admin_token": self.admin_token,
            "ttl": self.ttl,
        }

    def start(self) -> OIDCProvider:
        if self._proc is not None:
            return self
        check_node_modules()
        env = {**os.environ, "IMAGINE_OIDC_CONFIG": json.dumps(self.config())}
        self._proc = subprocess.Popen(
            [find_node(), str(SCRIPT)],
            cwd=str(DEMO_DIR),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.issuer = self._wait_ready()
        # A restart (stop, then start) keeps the port, hence the issuer.
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def _wait_ready(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        found: list[str] = []
        ready = threading.Event()
        stdout = self._proc.stdout

        def pump() -> None:
            for line in stdout:
                line = line.rstrip("\n")
                self._log.append(line)
                if line.startswith("READY ") and not found:
                    found.append(line.split(" ", 1)[1])
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True, name="oidc-provider-log").start()
        ready.wait(self.startup_timeout)
        if not found:
            self.stop()
            raise OIDCProviderError(f"the OpenID provider did not start:\n{self.log}")
        return found[0]

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        terminate(proc, timeout)
        if proc.stdout:
            proc.stdout.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> OIDCProvider:  # noqa: PYI034
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Test hooks (loopback only, protected by the random admin token).
    def admin(self, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST to ``/_admin/<action>``.

        Actions: ``rotate-keys``, ``ttl``, ``next-id-token``, ``users/<name>``.
        """
        req = urllib.request.Request(
            f"{self.url}/_admin/{action}",
            data=json.dumps(payload or {}).encode(),
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            result: dict[str, Any] = json.loads(resp.read())
            return result

    def rotate_keys(self, keep_old: bool = True) -> list[str]:
        """Sign with a new key from now on; returns the key ids now published."""
        kids: list[str] = self.admin("rotate-keys", {"keep_old": keep_old})["kids"]
        return kids

    def set_ttl(self, **seconds: int) -> None:
        """Token lifetimes for tokens issued from now: access_token, id_token, refresh_token."""
        self.admin("ttl", seconds)

    def misbehave_next_id_token(self, mode: str, **extra: Any) -> None:
        """Corrupt the next id_token: tampered, alg-none, hs256-public-key, wrong-iss,
        wrong-aud, expired, nonce (with nonce=...), unknown-kid."""
        self.admin("next-id-token", {"mode": mode, **extra})

    def update_user(
        self,
        username: str,
        claims: dict[str, Any] | None = None,
        access_token_claims: dict[str, Any] | None = None,
    ) -> None:
        """Change a user's claims (e.g. revoke an entitlement) for the next userinfo call."""
        self.admin(
            f"users/{username}",
            {"claims": claims or {}, "access_token_claims": access_token_claims or {}},
        )


def wait_for_url(url: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers (any HTTP status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
