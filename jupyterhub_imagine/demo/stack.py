"""The embedded single-machine default: the development OpenID provider plus a JupyterHub.

Used by ``make demo`` (through ``run.py``) and by the end-to-end tests, so what the tests check is
what a newcomer runs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import content
from .gpus import SIMULATED_MODULE, nvml_module_for_demo
from .leftovers import clean_up_leftovers
from .oidc import DEMO_DIR, USERS_FILE, OIDCClient, OIDCProvider

HUB_CONFIG = DEMO_DIR / "jupyterhub_config.py"
CLIENT_ID = "jupyterhub-imagine-demo"


@dataclass
class DemoSettings:
    state_dir: Path
    port: int = 8000
    provider_port: int = 8020
    hub_port: int = 8081
    proxy_api_port: int = 8001
    culler_port: int = 8002
    webdav_port: int = 8030
    gpus: str = ""  # "auto" (or empty), "real" or "simulated"
    extra_config: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    hub_log: Path | None = None  # None: the hub logs to this terminal


def _load_secrets(state_dir: Path) -> dict[str, str]:
    """Client secret and auth-state crypt key, generated once and kept 0600 in the state dir."""
    path = state_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {"client_secret": secrets.token_urlsafe(32), "crypt_key": secrets.token_hex(32)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


class DemoError(RuntimeError):
    """The demo could not start; the message says which part and why."""


def _routes(api_url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{api_url}/api/routes",
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=2) as response:
        return dict(json.loads(response.read()))


def wait_for_hub(api_url: str, token: str, process: subprocess.Popen[bytes],
                 timeout: float) -> None:
    """Wait until the proxy routes "/" to the hub, failing at once if the hub process exits.

    Asked of the proxy's API rather than its public port: a request there before the hub has
    added its routes makes the proxy log a 404 (and, earlier still, a connection refused)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise DemoError(f"JupyterHub exited with status {process.returncode} while starting")
        try:
            if "/" in _routes(api_url, token):
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise DemoError(f"JupyterHub was not routed at {api_url} within {timeout:.0f}s")
        time.sleep(0.2)


class DemoStack:
    """Start the provider and the hub; ``stop`` ends both and every server the hub started."""

    _content_env: dict[str, str] = {}

    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.port}"
        self.provider: OIDCProvider | None = None
        self.hub: subprocess.Popen[bytes] | None = None
        self.storage: content.WebDAVStorage | None = None
        self.nvml_module = ""
        # the hub hands it to the proxy; the demo uses it to see when the hub is routed
        self._proxy_token = secrets.token_hex(32)
        self.leftovers: list[str] = []  # what stop() found still running or mounted
        self._log_file: IO[bytes] | None = None

    @property
    def simulated_gpus(self) -> bool:
        return self.nvml_module == SIMULATED_MODULE

    def _lay_out_content(self) -> dict[str, str]:
        """The software tree, the storage, the sample notebook; their settings for the hub."""
        s = self.settings
        content.lay_out_cvmfs(s.state_dir / "cvmfs")
        users = [u["username"] for u in json.loads(USERS_FILE.read_text())["users"]]
        content.lay_out_homes(s.state_dir / "home", users)
        if content.rclone_available():
            folder = content.lay_out_storage(s.state_dir / "storage")
            self.storage = content.WebDAVStorage(folder, s.webdav_port, s.state_dir / "webdav.log")
            self.storage.start()
        self.nvml_module = nvml_module_for_demo(s.gpus or None)
        return {**content.environment(s.state_dir, self.storage),
                "IMAGINE_DEMO_NVML": self.nvml_module}

    def _hub_env(self, issuer: str, secret_values: dict[str, str]) -> dict[str, str]:
        s = self.settings
        bin_dirs = [str(DEMO_DIR / "node_modules" / ".bin"), str(Path(sys.executable).parent)]
        env = dict(os.environ)
        env.update(
            self._content_env,
            PATH=os.pathsep.join([*bin_dirs, env.get("PATH", "")]),
            IMAGINE_DEMO_DIR=str(s.state_dir),
            IMAGINE_DEMO_PORT=str(s.port),
            IMAGINE_DEMO_HUB_PORT=str(s.hub_port),
            IMAGINE_DEMO_PROXY_API_PORT=str(s.proxy_api_port),
            IMAGINE_DEMO_CULLER_PORT=str(s.culler_port),
            IMAGINE_DEMO_ISSUER=issuer,
            IMAGINE_DEMO_CLIENT_ID=CLIENT_ID,
            IMAGINE_DEMO_CLIENT_SECRET=secret_values["client_secret"],
            JUPYTERHUB_CRYPT_KEY=secret_values["crypt_key"],
            CONFIGPROXY_AUTH_TOKEN=self._proxy_token,
        )
        if s.extra_config:
            env["IMAGINE_DEMO_EXTRA_CONFIG"] = str(s.extra_config)
        env.update(s.env)
        return env

    def start(self) -> DemoStack:
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret_values = _load_secrets(s.state_dir)
        try:
            self._content_env = self._lay_out_content()
        except (OSError, RuntimeError) as exc:
            self.stop()
            raise DemoError(f"could not lay out the demo's content: {exc}") from exc
        client = OIDCClient(
            client_id=CLIENT_ID,
            client_secret=secret_values["client_secret"],
            redirect_uris=[f"{self.url}/hub/oauth_callback"],
            post_logout_redirect_uris=[f"{self.url}/hub/login", f"{self.url}/hub/logout"],
        )
        self.provider = OIDCProvider(shape="checkin", clients=[client], port=s.provider_port)
        self.provider.start()
        out: Any = None
        if s.hub_log is not None:
            self._log_file = open(s.hub_log, "ab")  # noqa: SIM115 - closed in stop()
            out = self._log_file
        self.hub = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(HUB_CONFIG)],
            cwd=s.state_dir,
            env=self._hub_env(self.provider.issuer, secret_values),
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        try:
            api_url = f"http://127.0.0.1:{s.proxy_api_port}"
            wait_for_hub(api_url, self._proxy_token, self.hub, timeout=90)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the hub (it stops its proxy, services and user servers), then the provider."""
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.hub.pid, signal.SIGKILL)
                self.hub.wait()
        self.hub = None
        # servers stop with the hub and unmount their storage; anything they left is ended here
        for line in clean_up_leftovers(self.settings.state_dir):
            self.leftovers.append(line)
            print(f"demo: {line}", file=sys.stderr)
        if self.storage is not None:
            self.storage.stop()
            self.storage = None
        if self.provider is not None:
            self.provider.stop()
            self.provider = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
