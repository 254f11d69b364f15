"""A real JupyterHub (with configurable-http-proxy) in a subprocess, configured by the test."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from jupyterhub_imagine.demo.oidc import DEMO_DIR

from .net import free_port
from .procs import stop_tree, wait_answering

REPO = Path(__file__).resolve().parents[2]

BASE_CONFIG = """
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/cookie_secret"
c.JupyterHub.services = [{{"name": "test-admin", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "test-admin", "services": ["test-admin"],
                             "scopes": ["admin:users", "admin:servers", "list:users"]}}]
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root"] if __import__("os").geteuid() == 0 else []
"""


@dataclass
class MiniHub:
    url: str
    token: str
    state: Path
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers,
                                timeout=60, **kw)

    def login(self, username: str, password: str = "") -> requests.Session:
        """A browser-like session logged in through the hub's own login form."""
        s = requests.Session()
        page = s.get(f"{self.url}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
        data = {"username": username, "password": password}
        if xsrf:
            data["_xsrf"] = xsrf.group(1)
        r = s.post(f"{self.url}/hub/login", data=data, timeout=30)
        r.raise_for_status()
        return s

    def alive(self) -> bool:
        return self.process.poll() is None and requests.get(f"{self.url}/hub/api", timeout=10).ok


@contextmanager
def mini_hub(tmp: Path, config: str, env: dict[str, str] | None = None) -> Iterator[MiniHub]:
    state = tmp / "hub"
    state.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    singleuser = str(Path(sys.executable).with_name("jupyterhub-singleuser"))
    text = BASE_CONFIG.format(port=port, hub_port=free_port(), proxy_port=free_port(),
                              state=state, token=token, singleuser=singleuser)
    (state / "jupyterhub_config.py").write_text(text + config)
    full_env = dict(os.environ)
    full_env["PATH"] = os.pathsep.join([str(DEMO_DIR / "node_modules" / ".bin"),
                                        str(Path(sys.executable).parent), full_env["PATH"]])
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    log = state / "hub.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyterhub")), "-f", "jupyterhub_config.py"],
            cwd=state, env=full_env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = MiniHub(f"http://127.0.0.1:{port}", token, state, proc, log)
    try:
        _wait(hub)
        yield hub
    finally:
        stop_tree(proc, timeout=60)


def _wait(hub: MiniHub, timeout: float = 60) -> None:
    wait_answering(
        lambda: requests.get(f"{hub.url}/hub/api", timeout=2).ok,
        hub.process,
        lambda: hub.log.read_text(errors="replace"),
        "jupyterhub",
        timeout,
    )
