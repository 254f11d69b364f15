"""A real JupyterHub (subprocess, the suite's launcher) on loopback with ImagineOAuthenticator."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from tests.support.launcher import HubProcess
from tests.support.net import free_port  # noqa: F401 - the auth tests import it from here
from tests.support.oidc import OIDCClient, OIDCProvider

API_SCOPES = ["admin:users", "admin:auth_state", "admin:groups", "list:users"]
AUTHENTICATOR = "imagine"  # the entry point of the installed distribution


class Hub(HubProcess):
    """A JupyterHub process; ``authenticator`` holds ImagineOAuthenticator settings and
    ``extra_config`` more configuration (e.g. spawner settings)."""

    def __init__(self, workdir: Path, authenticator: dict[str, Any], crypt_key: bool = True):
        super().__init__(workdir, scopes=API_SCOPES)
        self.workdir = workdir
        self.authenticator = authenticator
        self.crypt_key = crypt_key
        self.extra_config = ""

    @property
    def api_token(self) -> str:
        return self.token

    def write_config(self) -> Path:
        settings = {"oauth_callback_url": f"{self.url}/hub/oauth_callback", **self.authenticator}
        lines = [
            f"c.JupyterHub.authenticator_class = {AUTHENTICATOR!r}",
            "c.JupyterHub.spawner_class = 'simple'",
        ]
        for key, value in settings.items():
            lines.append(f"c.ImagineOAuthenticator.{key} = {json.loads(json.dumps(value))!r}")
        self.config = "\n".join(lines) + "\n" + self.extra_config
        return super().write_config()

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("JUPYTERHUB_CRYPT_KEY", None)
        env.pop("OAUTH_CLIENT_SECRET", None)
        if self.crypt_key:
            env["JUPYTERHUB_CRYPT_KEY"] = secrets.token_hex(32)
        return env

    @property
    def log(self) -> str:
        return self.log_text()

    def api(self, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
        return self.request(method, path, **kwargs)

    def user(self, name: str) -> dict[str, Any]:
        r = self.api(f"/users/{quote(name, safe='')}")
        r.raise_for_status()
        model: dict[str, Any] = r.json()
        return model


VO = "vo.imagine.example"


@contextmanager
def checkin_hub(workdir: Path, **settings: Any) -> Iterator[tuple[Hub, OIDCProvider]]:
    """A hub whose authenticator logs in at a Check-in shaped dev provider; members of
    ``egi:vo.imagine.example`` may log in. ``settings`` add to or replace its settings."""
    hub = Hub(workdir, {})
    client = OIDCClient(
        "jupyterhub", "hub-secret", [f"{hub.url}/hub/oauth_callback"], [f"{hub.url}/hub/login"]
    )
    op = OIDCProvider(shape="checkin", clients=[client]).start()
    hub.authenticator = {
        "issuer": op.issuer,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "allowed_rules": [f"egi:{VO}"],
        **settings,
    }
    try:
        hub.start()
        yield hub, op
    finally:
        hub.stop()
        op.stop()
