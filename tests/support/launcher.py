"""The one launcher of test hubs: a real JupyterHub and its configurable-http-proxy on loopback,
for the tests and the benches.

``HubProcess`` writes a base configuration (free ports, its own database, cookie secret and
proxy pid file under ``root``, the project's configurable-http-proxy, and a ``test-admin``
service whose token the launcher holds), appends the caller's configuration, starts
``python -m jupyterhub`` and waits until the hub answers through the proxy. ``stop`` (also on
leaving the ``with`` block, and when the start fails) ends the hub and whatever it started that
outlived it: the proxy and single-user servers run in sessions of their own (see procs.py).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from jupyterhub_imagine.demo.oidc import DEMO_DIR

from .net import free_port
from .procs import stop_tree, wait_answering

REPO = Path(__file__).resolve().parents[2]
CHP_DIR = DEMO_DIR / "node_modules" / ".bin"
ADMIN_SCOPES = ("admin:users", "admin:servers", "list:users")

BASE_CONFIG = """\
# written by tests/support/launcher.py; the test's own configuration follows
c.JupyterHub.bind_url = {url!r}
c.JupyterHub.hub_bind_url = {hub_url!r}
c.ConfigurableHTTPProxy.api_url = {proxy_api_url!r}
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.pid_file = {pid_file!r}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.services = [{{"name": "test-admin", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "test-admin", "services": ["test-admin"],
                             "scopes": {scopes!r}}}]
"""


def chp_binary() -> str:
    """The proxy the project installs (`make env` runs npm ci in the demo folder)."""
    binary = CHP_DIR / "configurable-http-proxy"
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: run `make env` (it runs npm ci) first")
    return str(binary)


class HubProcess:
    """A JupyterHub subprocess with its proxy; ``config`` is appended to the base config and
    ``env`` to the environment (a value of None removes the variable)."""

    def __init__(
        self,
        root: Path,
        config: str = "",
        env: Mapping[str, str | None] | None = None,
        token: str | None = None,
        scopes: Sequence[str] = ADMIN_SCOPES,
    ) -> None:
        self.root = root
        self.config = config
        self.extra_env = dict(env or {})
        self.token = token or secrets.token_hex(16)
        self.scopes = list(scopes)
        self.port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hub_api = f"http://127.0.0.1:{self.hub_port}/hub/api"
        self.log_path = root / "hub.log"
        self.config_path = root / "jupyterhub_config.py"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- starting and stopping ------------------------------------------------------------------
    def write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        base = BASE_CONFIG.format(
            url=self.url,
            hub_url=f"http://127.0.0.1:{self.hub_port}",
            proxy_api_url=f"http://127.0.0.1:{self.proxy_api_port}",
            chp=chp_binary(),
            pid_file=str(self.root / "proxy.pid"),
            db_url=f"sqlite:///{self.root / 'jupyterhub.sqlite'}",
            cookie_secret=str(self.root / "cookie_secret"),
            token=self.token,
            scopes=self.scopes,
        )
        self.config_path.write_text(base + self.config)
        return self.config_path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(CHP_DIR), str(Path(sys.executable).parent),
                                       env.get("PATH", "")])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        for key, value in self.extra_env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self, wait: bool = True, timeout: float = 60.0) -> HubProcess:
        """Start the hub; with ``wait``, return once it answers through the proxy (stopping
        everything it started if it does not)."""
        config = self.write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.root, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            )
        if wait:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.stop()
                raise
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc is not None, "start() first"
        wait_answering(
            lambda: requests.get(f"{self.url}/hub/api", timeout=5).status_code == 200,
            self.proc, self.log_text, "jupyterhub", timeout,
        )

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.proc is not None, "start() first"
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """End the hub, then whatever it started that outlived it (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_tree(proc, timeout=timeout)

    def __enter__(self) -> HubProcess:
        return self if self.proc is not None else self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- talking to it --------------------------------------------------------------------------
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(self, method: str, path: str, token: str | None = None,
                **kw: Any) -> requests.Response:
        """A REST API call (``path`` below /hub/api, through the proxy) with the test-admin
        token."""
        headers = {"Authorization": f"token {token or self.token}", **kw.pop("headers", {})}
        kw.setdefault("timeout", 60)
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, **kw)

    def alive(self) -> bool:
        return (self.proc is not None and self.proc.poll() is None
                and requests.get(f"{self.url}/hub/api", timeout=10).ok)
