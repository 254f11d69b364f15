"""A real jupyter-server with the extension in a subprocess, for tables and fault tests.

NVML is the FAKE module from tests/support/fake_nvml.py (no GPU here); the culler's hub identity
is the TEST DOUBLE in tests/labextension/identity_double.py (no hub here). Everything else is
real: jupyter-server, the extension, rclone and FUSE.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support import fake_nvml
from tests.support.net import free_port
from tests.support.procs import descendants, wait_answering

REPO = Path(__file__).resolve().parents[2]
API = "/jupyterhub-imagine/api"


@dataclass
class Server:
    url: str
    token: str
    culler_token: str
    home: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def api(self, method: str, route: str, *, culler: bool = False, **kw: Any) -> requests.Response:
        token = self.culler_token if culler else self.token
        headers = {"Authorization": f"token {token}", **kw.pop("headers", {})}
        return requests.request(
            method, f"{self.url}{API}/{route}", headers=headers, timeout=60, **kw
        )

    def children(self) -> list[int]:
        return descendants(self.proc.pid)


def start_server(tmp: Path, config: dict[str, Any], env: dict[str, str] | None = None) -> Server:
    """Start jupyter-server with ``config`` (jupyter_server_config.json); home is ``tmp/home``."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    (tmp / "config").mkdir(exist_ok=True)
    (tmp / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    nvml_state = tmp / "nvml.json"
    fake_nvml.write_state(str(nvml_state), [])
    port, token, culler_token = free_port(), secrets.token_hex(16), secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={home}",
        "--ServerApp.jpserver_extensions={'jupyterhub_imagine': True}",
        "--ServerApp.identity_provider_class="
        "tests.labextension.identity_double.CullerTokenIdentityProvider",
        f"--CullerTokenIdentityProvider.token={token}",
        f"--CullerTokenIdentityProvider.culler_token={culler_token}",
        "--ImagineServerExtension.nvml_module=tests.support.fake_nvml",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    full_env.update(
        PYTHONPATH=str(REPO),
        IMAGINE_FAKE_NVML=str(nvml_state),
        HOME=str(home),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),
        **(env or {}),
    )
    log = tmp / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, cwd=home, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", token, culler_token, home, log, proc)
    try:
        wait_answering(
            lambda: server.api("GET", "status").ok,
            proc,
            lambda: log.read_text(errors="replace"),
            "jupyter server",
        )
    except BaseException:
        stop_server(server, sig=signal.SIGKILL)
        raise
    return server


def stop_server(server: Server, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal the server and wait for it; SIGKILL it if it does not end in time."""
    if server.proc.poll() is None:
        server.proc.send_signal(sig)
        try:
            server.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(10)


@contextmanager
def running_server(
    tmp: Path, config: dict[str, Any], env: dict[str, str] | None = None
) -> Iterator[Server]:
    server = start_server(tmp, config, env)
    try:
        yield server
    finally:
        stop_server(server)
