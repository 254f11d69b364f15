"""A real JupyterHub on loopback (the project's configurable-http-proxy, servers from
SimpleLocalProcessSpawner running jupyterhub-singleuser with the real server extension).

NVML is the FAKE module of tests/support/fake_nvml.py (no GPU here): each user's server reads
the devices of ``<root>/gpu/<user>.json``, which ``RealHub.set_gpu`` writes.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support import fake_nvml
from tests.support.launcher import HubProcess
from tests.support.net import free_port

HERE = Path(__file__).parent
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
CULLER_TOKEN = "test-culler-token-0123456789abcdef"


@dataclass
class RealHub:
    root: Path
    api_url: str
    public_url: str
    gpu_dir: Path
    launched: HubProcess
    service_port: int = 0

    def api(self, method: str, path: str, token: str = ADMIN_TOKEN, **kw: Any) -> Any:
        r = requests.request(
            method, self.api_url + path, headers={"Authorization": f"token {token}"}, **kw
        )
        r.raise_for_status()
        return r.json() if r.content else None

    def set_gpu(self, user: str, devices: list[dict[str, Any]]) -> None:
        """The FAKE NVML devices ``user``'s server sees (fake_nvml.a100(...), ...)."""
        fake_nvml.write_state(str(self.gpu_dir / f"{user}.json"), devices)

    def wait_routed(self, prefix: str, timeout: float = 60) -> None:
        """Wait until the proxy routes ``prefix`` (JupyterHub adds an external service's route
        only once the service answers, up to Service.timeout after the hub's API is up)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = requests.get(self.public_url + prefix + "metrics", timeout=10)
            if r.status_code != 404:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the proxy never routed {prefix}")

    def start_server(self, user: str, options: dict[str, Any] | None = None) -> None:
        requests.post(
            f"{self.api_url}/users/{user}/server",
            headers={"Authorization": f"token {ADMIN_TOKEN}"},
            json=options,
        )

    def wait_ready(self, users: list[str], timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            ready = {u: self.api("GET", f"/users/{u}")["servers"].get("", {}) for u in users}
            if all(s.get("ready") for s in ready.values()):
                return
            time.sleep(0.5)
        raise TimeoutError(f"servers not ready: {ready}")

    def running(self, user: str) -> bool:
        return bool(self.api("GET", f"/users/{user}")["servers"].get("", {}).get("ready"))

    def user_token(self, user: str) -> str:
        return str(self.api("POST", f"/users/{user}/tokens", json={})["token"])

    def server_api(self, user: str, token: str, method: str, path: str, **kw: Any) -> Any:
        url = f"{self.public_url}/user/{user}/{path}"
        r = requests.request(method, url, headers={"Authorization": f"token {token}"}, **kw)
        r.raise_for_status()
        return r.json() if r.content else None




CULLER_HUB_CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = set({users!r})
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.cmd = [{python!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--allow-root"]
c.Spawner.start_timeout = 60
c.Spawner.environment = {{
    "PYTHONPATH": {repo!r},
    "JUPYTER_CONFIG_DIR": "{jupyter_config}",
    "IMAGINE_FAKE_NVML": lambda spawner: "{root}/gpu/" + spawner.user.name + ".json",
    "IMAGINE_FAKE_CLOCK": "{root}/gpu/clock",
    # what the project's spawners hand every server; this hub's spawner is a stock one
    "JUPYTERHUB_IMAGINE_CULLER_SERVICE": "imagine-culler",
}}
c.JupyterHub.services.append(
    {{"name": "imagine-culler", "api_token": {culler_token!r},
      "url": "http://127.0.0.1:{service_port}", "oauth_no_confirm": True}})
# the culler's role and scopes, users' access to their warnings and the home page, as deployed
from jupyterhub_imagine.culler.hubconfig import wire_culler
wire_culler(c)
"""
ADMIN_SCOPES = ["admin:users", "admin:servers", "tokens", "access:servers", "access:services"]


def write_server_config(root: Path) -> Path:
    """The servers' jupyter config: the extension with FAKE NVML and the FAKE clock."""
    jupyter_config = root / "jupyter_config"
    jupyter_config.mkdir()
    (jupyter_config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
                "ImagineServerExtension": {
                    "nvml_module": "tests.support.fake_nvml",
                    "gpu_cache_seconds": 0,
                    # the test decides what each cycle sees: no peaks sampled in between
                    "culling_sample_every": 0,
                    # presence ages with the culler's injected clock (RealHub.clock_file)
                    "clock": "tests.support.fake_clock.now",
                    "mounts_enabled": False,
                    "software_enabled": False,
                },
            }
        )
    )
    return jupyter_config


def start_hub(root: Path, users: list[str]) -> RealHub:
    """The hub (the suite's launcher) with the culler's service registered at a free port."""
    (root / "gpu").mkdir()
    service_port = free_port()
    config = CULLER_HUB_CONFIG.format(
        users=users, root=root, python=sys.executable, repo=str(HERE.parent.parent),
        jupyter_config=write_server_config(root), culler_token=CULLER_TOKEN,
        service_port=service_port,
    )
    launched = HubProcess(root, config, token=ADMIN_TOKEN, scopes=ADMIN_SCOPES)
    launched.start()
    return RealHub(
        root=root,
        api_url=launched.hub_api,
        public_url=launched.url,
        gpu_dir=root / "gpu",
        launched=launched,
        service_port=service_port,
    )


def stop_hub(hub: RealHub) -> None:
    hub.launched.stop()
