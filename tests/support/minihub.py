"""A real JupyterHub (with configurable-http-proxy) in a subprocess, configured by the test,
spawning jupyterhub-singleuser locally (the launcher is tests/support/launcher.py)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from .launcher import HubProcess

SPAWNER_CONFIG = """
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root"] if __import__("os").geteuid() == 0 else []
"""


class MiniHub(HubProcess):
    """The launcher's hub, with the names these tests use."""

    @property
    def state(self) -> Path:
        return self.root

    @property
    def log(self) -> Path:
        return self.log_path

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.request(method, path, **kw)

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


@contextmanager
def mini_hub(tmp: Path, config: str, env: dict[str, str] | None = None) -> Iterator[MiniHub]:
    singleuser = str(Path(sys.executable).with_name("jupyterhub-singleuser"))
    hub = MiniHub(tmp / "hub", SPAWNER_CONFIG.format(singleuser=singleuser) + config, env)
    with hub:
        yield hub
