"""A real JupyterLab with the jupyterhub-imagine server extension, in a subprocess.

NVML is the FAKE module from tests/support/fake_nvml.py (no GPU here); the culler's
hub identity is the test double in identity_double.py (no hub here). Everything else
is real: jupyter-server, the built labextension, the browser that loads it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support import fake_nvml
from tests.support.net import free_port
from tests.support.procs import wait_answering

REPO = Path(__file__).resolve().parents[2]
BUILT = REPO / "jupyterhub_imagine" / "labextension" / "static"
API = "/jupyterhub-imagine/api"


@dataclass
class Lab:
    url: str
    token: str
    culler_token: str
    root: Path
    nvml_state: Path
    log: Path

    def api(self, method: str, route: str, *, culler: bool = False, **kw: Any) -> requests.Response:
        token = self.culler_token if culler else self.token
        return requests.request(
            method, f"{self.url}{API}/{route}", headers={"Authorization": f"token {token}"},
            timeout=30, **kw,
        )

    def set_gpus(self, devices: list[dict[str, Any]]) -> None:
        fake_nvml.write_state(str(self.nvml_state), devices)

    def warn(self, *, lead: float = 600, left: int = 2, postpone_by: float = 3600,
             reason: str = "GPU idle for 00:30:00 (below 5%)") -> dict[str, Any]:
        """PUT a warning as the culler service would; returns the server's answer."""
        now = time.time()
        body = {"issued_at": now - 1, "stop_at": now + lead, "reason": reason,
                "postponements_left": left, "postpone_by": postpone_by}
        r = self.api("PUT", "warning", culler=True, json=body)
        r.raise_for_status()
        return r.json()["warning"]  # type: ignore[no-any-return]

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}/{path}?token={self.token}"


def _settings(folder: Path, poll_interval: float) -> None:
    """User settings of the plugin, as a user would save them in the settings editor."""
    plugin = folder / "jupyterhub-imagine" / "gpu-status.jupyterlab-settings"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text(json.dumps({"pollInterval": poll_interval}))
    # No "what's new" / news prompts covering the status bar in screenshots.
    news = folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@contextmanager
def running_lab(tmp: Path, *, poll_interval: float = 0.5, theme: str = "",
                extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                config: dict[str, Any] | None = None) -> Iterator[Lab]:
    """`config` goes to jupyter_server_config.json; the lab's home is its root folder."""
    assert (BUILT / "style.js").exists(), "build the labextension first (make lab)"
    root, settings = tmp / "root", tmp / "settings"
    root.mkdir(parents=True, exist_ok=True)
    _settings(settings, poll_interval)
    if theme:
        themes = settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
        themes.parent.mkdir(parents=True, exist_ok=True)
        themes.write_text(json.dumps({"theme": theme}))
    (tmp / "config").mkdir(exist_ok=True)
    (tmp / "config" / "jupyter_server_config.json").write_text(json.dumps(config or {}))
    nvml_state = tmp / "nvml.json"
    fake_nvml.write_state(str(nvml_state), [])
    port, token, culler_token = free_port(), secrets.token_hex(16), secrets.token_hex(16)
    args = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions={'jupyterhub_imagine': True}",
        "--ServerApp.identity_provider_class="
        "tests.labextension.identity_double.CullerTokenIdentityProvider",
        f"--CullerTokenIdentityProvider.token={token}",
        f"--CullerTokenIdentityProvider.culler_token={culler_token}",
        "--ImagineServerExtension.nvml_module=tests.support.fake_nvml",
        "--ImagineServerExtension.gpu_cache_seconds=0",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        *(extra_args or []),
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    full_env.update(
        PYTHONPATH=str(REPO), IMAGINE_FAKE_NVML=str(nvml_state), HOME=str(root),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
        **(env or {}),
    )
    log = tmp / "lab.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, cwd=root, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, culler_token, root, nvml_state, log)
    try:
        _wait(lab, proc)
        yield lab
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _wait(lab: Lab, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    wait_answering(
        lambda: lab.api("GET", "status").ok,
        proc,
        lambda: lab.log.read_text(errors="replace"),
        "jupyter lab",
        timeout,
    )
