"""A deployment of the chart on a cluster emulated on one machine (see tests/cluster/README.md).

Real: helm rendering the chart, JupyterHub with ImagineOAuthenticator and ImagineKubeSpawner,
configurable-http-proxy as the proxy pod, the culler started by the hub as the chart's managed
service, jupyterhub-singleuser with the server extension in every user pod, the development
OpenID provider standing in for UmbrellaID. FAKE: the Kubernetes API server, scheduler and
kubelet (api.py, kubelet.py), cluster DNS and kube-proxy (network.py), NVML in the pods.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import requests
import yaml

from tests.helm.chart import (
    EXAMPLES,
    HubSecrets,
    chart_copy,
    get,
    hub_env,
    load_example,
    managed_secret,
    render,
    write_values,
)
from tests.spawner.fake_kube import node
from tests.support import fake_nvml
from tests.support.oidc import OIDCClient, OIDCProvider, load_users, scripted_login
from tests.support.procs import descendants, stop_tree, wait_answering

from .api import ClusterAPI
from .kubelet import VENV_BIN, PodProcess
from .network import (
    HUB_API_PORT,
    PROXY_API_PORT,
    PROXY_PUBLIC_PORT,
    Network,
    ServiceProxy,
    Services,
)

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
CHP = REPO / "jupyterhub_imagine" / "demo" / "node_modules" / ".bin" / "configurable-http-proxy"
EXAMPLE = "umbrellaid.yaml"  # activity_source=server: the culler asks each server
NAMESPACE = "jhub"
CLIENT_SECRET = "FAKE-client-secret-of-the-existing-secret"
GPU_PROFILE = "gpu-v100"
GPU_PRODUCT = "Tesla-V100-SXM2-32GB"
GPU_NODE_GPUS = 2
ADMIN = "test-admin"
ADMIN_SCOPES = ["admin:users", "admin:servers", "admin:auth_state", "tokens", "list:users",
                "read:users", "access:servers", "access:services"]
# Fast culler settings for the journeys (seconds).
FAST_CULLER = {"cull_every": 1, "gpu_idle_timeout": 5, "warning_lead": 8, "postpone_by": 30}
GPU_USERS = ("ada", "ben", "cy", "dee")
DEFAULT_CULLER = "imagine-culler"  # the chart's name for the culler service


def culler_command(**settings: Any) -> list[str]:
    """The example's culler command with ``settings`` (and FAST_CULLER) added."""
    command = list(get(load_example(EXAMPLE), "jupyterhub.hub.services.imagine-culler.command"))
    for key, value in {**FAST_CULLER, **settings}.items():
        command.append(f"--IdleGPUCuller.{key}={value}")
    return command


def provider_users() -> list[dict[str, Any]]:
    """UmbrellaID users of the development provider: GPU_USERS may use GPUs, bob may not."""
    users = load_users("umbrellaid")
    (alice,) = [u for u in users if u["username"] == "alice"]
    (bob,) = [u for u in users if u["username"] == "bob"]
    out = [bob]
    for name in GPU_USERS:
        claims = dict(alice["claims"], sub=f"{name}@umbrellaid.org", preferred_username=name,
                      voperson_id=f"{name}@umbrellaid.org", name=name.title(),
                      email=f"{name}@example.org")
        out.append({**alice, "username": name, "password": name, "claims": claims})
    return out


def hub_user(name: str) -> str:
    """The hub user name of a provider user (the umbrellaid preset names users by `sub`)."""
    return f"{name}@umbrellaid.org"


class LoopThread:
    """An asyncio loop in a thread, for the FAKE API server, scheduler and kubelet."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="emulated-cluster")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class EmulatedCluster:
    """The chart deployed on the emulated cluster; ``start()``, use, ``stop()``."""

    def __init__(self, tmp: Path, overlay: Mapping[str, Any] | None = None,
                 culler_service: str = DEFAULT_CULLER, **culler: Any) -> None:
        self.tmp = tmp
        self.extra_overlay = dict(overlay or {})
        self.culler_service = culler_service
        self.culler_settings = culler
        self.net = Network.pick()
        self.public_url = f"http://{self.net.proxy_pod}:{PROXY_PUBLIC_PORT}"
        self.hub_root = tmp / "hub"
        self.workdir = self.hub_root / "srv" / "jupyterhub"  # Z2JH hub's workingDir
        self.loop: LoopThread | None = None
        self.api: ClusterAPI | None = None
        self.hub_service: ServiceProxy | None = None
        self.provider: OIDCProvider | None = None
        self.proxy: subprocess.Popen[bytes] | None = None
        self.hub: subprocess.Popen[bytes] | None = None
        self.values: dict[str, Any] = {}
        self.hub_secrets: HubSecrets | None = None
        self.admin_token = ""
        self._runner: Any = None
        self.sessions: dict[str, requests.Session] = {}

    # ----- bringing it up ----------------------------------------------------------------------
    def start(self) -> EmulatedCluster:
        try:
            self._start_api()
            self._start_provider()
            self._render()
            self._start_proxy()
            self.start_hub()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_api(self) -> None:
        from aiohttp import web

        self.loop = LoopThread()

        async def up() -> None:
            api = ClusterAPI(self.tmp / "cluster", self.net)
            runner = web.AppRunner(api.app(), shutdown_timeout=0.5, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            api.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            await api.put("nodes", node("cpu-node-1"))
            await api.put("nodes", node("gpu-node-1", product=GPU_PRODUCT, gpus=GPU_NODE_GPUS))
            self.api, self._runner = api, runner
            self.hub_service = ServiceProxy((self.net.hub_service, HUB_API_PORT),
                                            f"http://{self.net.hub_pod}:{HUB_API_PORT}")
            await self.hub_service.start()

        self.loop.run(up())
        assert self.api is not None
        self.kubeconfig = self.tmp / "FAKE-kubeconfig.json"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.api.url}}],
            "users": [{"name": "fake", "user": {"token": "FAKE-service-account-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                      "namespace": NAMESPACE}}],
        }))

    def _start_provider(self) -> None:
        client = OIDCClient("imagine-panosc", CLIENT_SECRET,
                            [f"{self.public_url}/hub/oauth_callback"])
        self.provider = OIDCProvider(shape="umbrellaid", clients=[client],
                                     users=provider_users()).start()

    def overlay(self) -> dict[str, Any]:
        """Values the admin of this deployment adds to the example (see the module doc)."""
        assert self.provider is not None
        name = self.culler_service
        culler: dict[str, Any] = {"command": culler_command(**self.culler_settings)}
        if name != DEFAULT_CULLER:
            culler["name"] = name  # Z2JH: an entry's `name` replaces its key as the name
        services: dict[str, Any] = {DEFAULT_CULLER: culler, ADMIN: {}}
        hub: dict[str, Any] = {
            "config": {"ImagineOAuthenticator": {
                "issuer": self.provider.issuer,
                "oauth_callback_url": f"{self.public_url}/hub/oauth_callback",
            }},
            "services": services,
            "loadRoles": {ADMIN: {"scopes": ADMIN_SCOPES, "services": [ADMIN]}},
        }
        return {"jupyterhub": {"hub": hub}}

    def _render(self) -> None:
        """helm template with the example and the overlay; the hub pod's mounted files."""
        chart = chart_copy(self.tmp)
        overlays = [write_values(self.tmp, self.overlay(), "overlay.yaml")]
        if self.extra_overlay:
            overlays.append(write_values(self.tmp, self.extra_overlay, "test-overlay.yaml"))
        self.values = render(chart, EXAMPLES / EXAMPLE, *overlays, namespace=NAMESPACE
                             ).hub_values()
        existing = self.values["hub"]["existingSecret"]
        self.hub_secrets = HubSecrets(
            # what the admin created: kubectl create secret generic imagine-hub ...
            {existing: {"hub.config.CryptKeeper.keys": secrets.token_hex(32),
                        "client-secret": CLIENT_SECRET}},
            existing,
            managed_secret(self.values),
        )
        self.admin_token = self.hub_secrets.secret_value(f"hub.services.{ADMIN}.apiToken")
        services = Services.for_cluster(self.net, get(self.values, "hub.service.extraPorts", []))
        self.cluster_json = {"namespace": NAMESPACE, "hub_pod": self.net.hub_pod,
                             "services": services.as_json()}
        self.workdir.mkdir(parents=True)
        (self.hub_root / "values.yaml").write_text(yaml.safe_dump(self.values))
        (self.hub_root / "secrets.json").write_text(json.dumps(self.hub_secrets.__dict__))
        (self.hub_root / "cluster.json").write_text(json.dumps(self.cluster_json))
        (self.hub_root / "jupyterhub_config.py").write_text(
            "from pathlib import Path\n"
            "from tests.cluster.hubpod import configure\n"
            "configure(c, Path(__file__).parent)  # noqa: F821 - c is the hub's config\n"
        )

    def _start_proxy(self) -> None:
        """The proxy pod, as Z2JH runs it (its own Deployment, outliving hub restarts)."""
        assert self.hub_secrets is not None
        hub = Services.from_json(self.cluster_json["services"]).resolve_url(
            f"http://hub:{HUB_API_PORT}")
        env = {"PATH": os.environ.get("PATH", ""),
               "CONFIGPROXY_AUTH_TOKEN": self.hub_secrets.secret_value(
                   "hub.config.ConfigurableHTTPProxy.auth_token")}
        log = open(self.tmp / "proxy.log", "wb")  # noqa: SIM115 - closed below
        self.proxy = subprocess.Popen(
            [str(CHP), f"--ip={self.net.proxy_pod}", f"--port={PROXY_PUBLIC_PORT}",
             f"--api-ip={self.net.proxy_pod}", f"--api-port={PROXY_API_PORT}",
             f"--default-target={hub}", f"--error-target={hub}/hub/error", "--log-level=warn"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_answering(
            lambda: requests.get(self.public_url, timeout=5).status_code > 0,
            self.proxy, lambda: (self.tmp / "proxy.log").read_text(errors="replace"),
            "configurable-http-proxy",
        )

    def hub_env(self) -> dict[str, str]:
        """The hub container's environment."""
        assert self.hub_secrets is not None
        env = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TZ") if k in os.environ}
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            PYTHONPATH=str(REPO),
            HOME=str(self.workdir),
            KUBECONFIG=str(self.kubeconfig),  # FAKE: stands in for the hub's ServiceAccount
            POD_NAMESPACE=NAMESPACE,
        )
        env.update(hub_env(self.values, self.hub_secrets))
        return env

    def start_hub(self, timeout: float = 90) -> None:
        """Start the hub pod (again): the hub reads its config from the mounted files."""
        log = open(self.tmp / "hub.log", "ab")  # noqa: SIM115 - closed below
        self.hub = subprocess.Popen(
            [str(VENV_BIN / "jupyterhub"), "-f", str(self.hub_root / "jupyterhub_config.py")],
            cwd=self.workdir, env=self.hub_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_answering(
            lambda: self.admin_api("GET", "/users", timeout=10).status_code == 200,
            self.hub, lambda: self.hub_log, "jupyterhub", timeout,
        )

    def stop_hub(self) -> None:
        """Stop the hub pod (the hub and its culler); user pods and the proxy keep running."""
        hub, self.hub = self.hub, None
        if hub is not None:
            stop_tree(hub, timeout=20)

    def stop(self) -> None:
        """Stop everything this cluster started, whatever state it is in."""
        try:
            self.stop_hub()
        finally:
            if self.proxy is not None:
                stop_tree(self.proxy, timeout=10)
                self.proxy = None
            if self.loop is not None:
                self.loop.run(self._down())
                self.loop.stop()
                self.loop = None
            if self.provider is not None:
                self.provider.stop()
                self.provider = None
            for session in self.sessions.values():
                session.close()

    async def _down(self) -> None:
        if self.api is not None:
            await self.api.shutdown()
        if self.hub_service is not None:
            await self.hub_service.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    # ----- looking at it ----------------------------------------------------------------------
    @property
    def hub_log(self) -> str:
        path = self.tmp / "hub.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def admin_api(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return requests.request(method, f"{self.public_url}/hub/api{path}",
                                headers={"Authorization": f"token {self.admin_token}"}, **kw)

    def admin_json(self, method: str, path: str, **kw: Any) -> Any:
        r = self.admin_api(method, path, **kw)
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def login(self, name: str) -> requests.Session:
        """Log ``name`` in at the hub through the provider (a session with the hub's cookie)."""
        session = requests.Session()
        answer = scripted_login(session, self.public_url, name, name)
        assert answer.status_code == 302, f"login of {name} failed: {answer.text[-2000:]}"
        self.sessions[name] = session
        return session

    def user_model(self, name: str) -> dict[str, Any]:
        return self.admin_json("GET", f"/users/{quote(hub_user(name), safe='')}")  # type: ignore

    def spawn(self, name: str, profile: str = GPU_PROFILE) -> requests.Response:
        """Ask the hub to start ``name``'s server with ``profile`` (logs them in first)."""
        if name not in self.sessions:
            self.login(name)
        return self.admin_api("POST", f"/users/{quote(hub_user(name), safe='')}/server",
                              json={"profile": profile})

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 90,
                 every: float = 0.25) -> Any:
        """Poll ``check`` until it returns something true; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.hub is not None and self.hub.poll() is not None:
                raise AssertionError(f"the hub exited while waiting for {what}:\n"
                                     f"{self.hub_log[-4000:]}")
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}; hub log:\n{self.hub_log[-4000:]}")

    def server(self, name: str) -> dict[str, Any]:
        return self.user_model(name)["servers"].get("", {})  # type: ignore[no-any-return]

    def start_server(self, name: str, profile: str = GPU_PROFILE) -> PodProcess:
        """Start ``name``'s server and wait until the hub says it is ready; its pod."""
        r = self.spawn(name, profile)
        assert r.status_code in (201, 202), f"spawn of {name}: {r.status_code} {r.text}"
        self.wait_for(f"{name}'s server to be ready", lambda: self.server(name).get("ready"))
        return self.pod(name)

    def stop_server(self, name: str) -> None:
        r = self.admin_api("DELETE", f"/users/{quote(hub_user(name), safe='')}/server")
        assert r.status_code in (202, 204), r.text
        self.wait_for(f"{name}'s server to stop", lambda: not self.server(name))

    def pods(self) -> dict[str, dict[str, Any]]:
        assert self.loop is not None and self.api is not None
        api = self.api
        return self.loop.call(lambda: {k: json.loads(json.dumps(v))
                                       for k, v in api.objects["pods"].items()})

    def pod(self, name: str) -> PodProcess:
        """The running container of ``name``'s pod."""
        assert self.api is not None
        user = hub_user(name)
        for key, pod in self.pods().items():
            if pod["metadata"].get("annotations", {}).get("hub.jupyter.org/username") == user:
                running = self.api.running.get(key)
                assert running is not None, f"{key} has no running container"
                return running
        raise AssertionError(f"no pod for {user}: {sorted(self.pods())}")

    def set_gpu_utilization(self, name: str, percent: float) -> None:
        """What the FAKE NVML of ``name``'s pod reports from now on."""
        running = self.pod(name)
        assert running.nvml is not None, f"{running.key} has no GPU"
        devices = json.loads(running.nvml.read_text())["devices"]
        for device in devices:
            device["utilization"] = percent
        fake_nvml.write_state(str(running.nvml), devices)

    def user_token(self, name: str) -> str:
        path = f"/users/{quote(hub_user(name), safe='')}/tokens"
        return str(self.admin_json("POST", path, json={"expires_in": 3600})["token"])

    def server_api(self, name: str, method: str, path: str, token: str = "",
                   **kw: Any) -> requests.Response:
        """A request to ``name``'s server through the proxy (``token``: the user's)."""
        token = token or self.user_token(name)
        kw.setdefault("timeout", 30)
        url = f"{self.public_url}/user/{quote(hub_user(name), safe='@')}/{path}"
        return requests.request(method, url, headers={"Authorization": f"token {token}"}, **kw)

    def culler_pids(self) -> list[int]:
        """Processes of the culler the hub runs."""
        if self.hub is None:
            return []
        found = []
        for pid in descendants(self.hub.pid):
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(a.endswith(b"jupyterhub-imagine-culler") for a in args[:2]):
                found.append(pid)
        return found

    def kill_culler(self) -> int:
        (pid,) = self.culler_pids()
        os.kill(pid, signal.SIGKILL)
        return pid

    def start_servers(self, names: list[str], profile: str = GPU_PROFILE) -> list[PodProcess]:
        """Start several servers at once; their pods once all are ready."""
        for name in names:
            r = self.spawn(name, profile)
            assert r.status_code in (201, 202), f"spawn of {name}: {r.status_code} {r.text}"
        for name in names:
            self.wait_for(f"{name}'s server to be ready",
                          lambda name=name: self.server(name).get("ready"))  # type: ignore[misc]
        return [self.pod(name) for name in names]

    def stop_servers(self, names: list[str]) -> None:
        """Stop the servers of ``names`` that run (for test clean-up)."""
        for name in names:
            if self.hub is not None and self.server(name):
                self.admin_api("DELETE", f"/users/{quote(hub_user(name), safe='')}/server")
        for name in names:
            if self.hub is not None:
                self.wait_for(f"{name}'s server to stop",
                              lambda name=name: not self.server(name))  # type: ignore[misc]

    def warning(self, name: str) -> dict[str, Any] | None:
        """The warning ``name``'s server holds, as its user sees it."""
        r = self.server_api(name, "GET", "jupyterhub-imagine/api/warning", token=self.token(name))
        assert r.status_code == 200, r.text
        return r.json()["warning"]  # type: ignore[no-any-return]

    def token(self, name: str) -> str:
        """One API token per user for this cluster's life."""
        tokens: dict[str, str] = self.__dict__.setdefault("_tokens", {})
        if name not in tokens:
            tokens[name] = self.user_token(name)
        return tokens[name]

    def metrics(self) -> dict[str, float]:
        """The culler's metrics (``name{labels}`` -> value), through the proxy."""
        r = requests.get(f"{self.public_url}/services/{self.culler_service}/metrics",
                         headers={"Authorization": f"token {self.admin_token}"}, timeout=10)
        if r.status_code != 200:
            return {}
        out = {}
        for line in r.text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def wait_cycle_after(self, when: float, timeout: float = 60) -> None:
        """Wait until a culler cycle has ended after ``when`` (seconds since the epoch)."""
        self.wait_for(
            f"a culler cycle after {when}",
            lambda: self.metrics().get("imagine_culler_last_cycle_timestamp_seconds", 0) > when,
            timeout,
        )

    def pod_gone(self, name: str) -> bool:
        user = hub_user(name)
        return not any(p["metadata"].get("annotations", {}).get("hub.jupyter.org/username") == user
                       for p in self.pods().values())
