"""Stopping a user server from the hub leaves no mount and no mount program behind.

Real: JupyterHub with configurable-http-proxy, the single-user server it spawns (with the
extension), `rclone serve webdav` on loopback and the rclone mount over FUSE. NVML is the FAKE
module (no GPU here).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.serverext.webdav_support import (
    WebDAVServer,
    all_pids,
    mounts_under,
    needs_fuse,
    process_alive,
    rclone_mounts,
    unmount_leftovers,
)
from tests.support import fake_nvml
from tests.support.minihub import mini_hub

pytestmark = [needs_fuse, pytest.mark.fake]
PASSWORD = "hub-stop-pw-" + "5" * 10

CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{home}/{{username}}"
c.Spawner.environment = {{"IMAGINE_FAKE_NVML": "{nvml}"}}
c.Spawner.args = c.Spawner.args + [
    "--ServerApp.jpserver_extensions={{'jupyterhub_imagine': True}}",
    "--ImagineServerExtension.nvml_module=tests.support.fake_nvml",
    "--ImagineServerExtension.insecure_http_hosts=127.0.0.1",
]
c.JupyterHub.load_roles.append(
    {{"name": "test-user-access", "services": ["test-admin"], "scopes": ["access:servers"]}}
)
"""


def _until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_hub_stop_unmounts_and_ends_rclone(tmp_path: Path) -> None:
    remote = tmp_path / "webdav-remote"
    remote.mkdir()
    webdav = WebDAVServer(remote, "alice", PASSWORD)
    webdav.start()
    nvml = tmp_path / "nvml.json"
    fake_nvml.write_state(str(nvml), [])
    home = tmp_path / "homes"
    data = home / "alice" / "data"
    config = CONFIG.format(home=home, nvml=nvml)
    try:
        with mini_hub(tmp_path, config) as hub:
            assert hub.api("POST", "/users/alice").status_code in (201, 409)
            started = hub.api("POST", "/users/alice/server")
            assert started.status_code in (201, 202), started.text

            def ready() -> bool:
                servers = hub.api("GET", "/users/alice").json().get("servers", {})
                return bool(servers.get("", {}).get("ready"))

            _until(ready, "alice's server to be ready")
            api = f"{hub.url}/user/alice/jupyterhub-imagine/api/mounts"
            auth = {"Authorization": f"token {hub.token}"}
            body = {
                "name": "work",
                "backend": "webdav",
                "url": webdav.url,
                "user": "alice",
                "password": PASSWORD,
            }
            created = requests.post(api, headers=auth, data=json.dumps(body), timeout=60)
            assert created.status_code == 202, created.text

            def mounted() -> bool:
                r = requests.get(f"{api}/work", headers=auth, timeout=60)
                return r.ok and r.json()["state"] == "mounted"

            _until(mounted, "the mount")
            (pid,) = rclone_mounts(all_pids(), under=data)
            assert mounts_under(data) == [str(data / "work")]

            stopped = hub.api("DELETE", "/users/alice/server")
            assert stopped.status_code in (202, 204), stopped.text
            _until(lambda: not ready() and not process_alive(pid), "the server and rclone to stop")
            assert mounts_under(data) == []
    finally:
        webdav.stop()
        unmount_leftovers(data)
