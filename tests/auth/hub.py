"""Run a real JupyterHub (subprocess) on loopback with ImagineOAuthenticator."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from tests.support.net import free_port
from tests.support.oidc import OIDCClient, OIDCProvider
from tests.support.procs import stop_tree, wait_answering

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "jupyterhub_imagine" / "demo"
API_SCOPES = ["admin:users", "admin:auth_state", "admin:groups", "list:users"]
ROLE = {"name": "tests", "services": ["tests"], "scopes": API_SCOPES}
AUTHENTICATOR = "imagine"  # the entry point of the installed distribution


def jupyterhub_executable() -> str:
    candidate = Path(sys.executable).parent / "jupyterhub"
    return str(candidate) if candidate.exists() else "jupyterhub"


class Hub:
    """A JupyterHub process; ``config`` holds ImagineOAuthenticator settings."""

    def __init__(self, workdir: Path, authenticator: dict[str, Any], crypt_key: bool = True):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_token = secrets.token_hex(16)
        self.authenticator = authenticator
        self.crypt_key = crypt_key
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "hub.log"
        self.extra_config = ""  # appended to the generated config (e.g. spawner settings)

    def write_config(self) -> Path:
        settings = {"oauth_callback_url": f"{self.url}/hub/oauth_callback", **self.authenticator}
        lines = [
            f"c.JupyterHub.authenticator_class = {AUTHENTICATOR!r}",
            f"c.JupyterHub.bind_url = {self.url!r}",
            f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{free_port()}'",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'",
            f"c.JupyterHub.db_url = 'sqlite:///{self.workdir / 'hub.sqlite'}'",
            f"c.JupyterHub.cookie_secret_file = {str(self.workdir / 'cookie_secret')!r}",
            f"c.ConfigurableHTTPProxy.pid_file = {str(self.workdir / 'proxy.pid')!r}",
            "c.JupyterHub.spawner_class = 'simple'",
            f"c.JupyterHub.services = [{{'name': 'tests', 'api_token': {self.api_token!r}}}]",
            f"c.JupyterHub.load_roles = [{ROLE!r}]",
        ]
        for key, value in settings.items():
            lines.append(f"c.ImagineOAuthenticator.{key} = {json.loads(json.dumps(value))!r}")
        path = self.workdir / "jupyterhub_config.py"
        path.write_text("\n".join(lines) + "\n" + self.extra_config)
        return path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{DEMO / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep)
        env.pop("JUPYTERHUB_CRYPT_KEY", None)
        env.pop("OAUTH_CLIENT_SECRET", None)
        if self.crypt_key:
            env["JUPYTERHUB_CRYPT_KEY"] = secrets.token_hex(32)
        return env

    def start(self, wait: bool = True, timeout: float = 60.0) -> Hub:
        config = self.write_config()
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [jupyterhub_executable(), "-f", str(config)],
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        wait_answering(
            lambda: requests.get(f"{self.url}/hub/api", timeout=2).status_code == 200,
            self.proc,
            lambda: self.log,
            "jupyterhub",
            timeout,
        )

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.api_token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, **kwargs)

    def user(self, name: str) -> dict[str, Any]:
        r = self.api(f"/users/{quote(name, safe='')}")
        r.raise_for_status()
        model: dict[str, Any] = r.json()
        return model

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        stop_tree(proc, timeout=20)


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
