"""The rendered chart values, loaded the way Z2JH's hub loads them (tests/helm/chart.py:
``hub_config`` replicates that step of its jupyterhub_config.py), build our real classes:

* ImagineOAuthenticator, with discovery against the development OpenID provider standing in
  for each example's identity provider (the issuer is the one value the test changes);
* ImagineKubeSpawner, whose pod for each example profile is checked and validated against the
  Kubernetes schemas. FAKE: no API server; KubeSpawner's own test switch
  (``upstream.kubespawner.offline``) and a FAKE kubeconfig that is never contacted;
* IdleGPUCuller, from the command line of the hub service the chart registers.
"""

from __future__ import annotations

import asyncio
import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import kubernetes_validate
import pytest
from jupyterhub.app import JupyterHub
from jupyterhub.scopes import _check_scopes_exist
from kubernetes_asyncio.client import ApiClient
from traitlets.config import Config

from jupyterhub_imagine.auth.authenticator import ImagineOAuthenticator
from jupyterhub_imagine.culler.app import IdleGPUCuller
from jupyterhub_imagine.culler.sources import PrometheusSource, ServerEndpointSource
from jupyterhub_imagine.culler.store import CullerStore
from jupyterhub_imagine.spawner.kube import QUOTA_BOOK, ImagineKubeSpawner
from jupyterhub_imagine.upstream.kubespawner import offline
from tests.helm.chart import (
    EXAMPLES,
    K8S_VERSION,
    ROOT,
    HubSecrets,
    get,
    hub_config,
    hub_env,
    load_example,
    managed_secret,
    render,
    write_values,
)
from tests.support.oidc import OIDCClient, OIDCProvider

SHAPES = {
    "egi-checkin.yaml": "checkin",
    "umbrellaid.yaml": "umbrellaid",
    "keycloak.yaml": "keycloak",
}
CLIENT_SECRET = "client-secret-from-the-existing-secret"


def culler_scopes_in_docs() -> list[str]:
    """The role docs/culler.md gives the culler ("exactly what the tests grant")."""
    text = (ROOT / "docs" / "culler.md").read_text()
    block = re.search(r'"scopes": \[(.*?)\]', text, re.S)
    assert block, "docs/culler.md lost its scopes block"
    return re.findall(r'"([a-z:]+)"', block.group(1))


class Hub:
    """The chart rendered for one example, and the hub config built from it."""

    def __init__(self, chart: Path, tmp: Path, example: str, crypt_key: str, **overlay: Any):
        values_files = [EXAMPLES / example]
        if overlay:
            values_files.append(write_values(tmp, overlay, "overlay.yaml"))
        rendered = render(chart, *values_files, namespace="jhub")
        self.values = rendered.hub_values()
        name = self.values["hub"]["existingSecret"]
        self.secrets = HubSecrets(
            # what the admin created: kubectl create secret generic imagine-hub ...
            {name: {"hub.config.CryptKeeper.keys": crypt_key, "client-secret": CLIENT_SECRET}},
            name,
            managed_secret(self.values),
        )
        self.env = hub_env(self.values, self.secrets)
        self.config: Config = hub_config(
            self.values, self.secrets, namespace="jhub", names=rendered.hub_names()
        )

    def service(self, name: str) -> dict[str, Any]:
        (found,) = [s for s in self.config.JupyterHub.services if s["name"] == name]
        return found

    def gpu_slugs(self) -> set[str]:
        return {p["slug"] for p in self.values["singleuser"]["profileList"] if p.get("gpu")}


def provider_for(example: str) -> OIDCProvider:
    """The development provider shaped like the example's, with the example's OAuth client."""
    auth = load_example(example)["jupyterhub"]["hub"]["config"]["ImagineOAuthenticator"]
    client = OIDCClient(auth["client_id"], CLIENT_SECRET, [auth["oauth_callback_url"]])
    return OIDCProvider(shape=SHAPES[example], clients=[client])


@pytest.mark.fake
@pytest.mark.parametrize("example", sorted(SHAPES))
def test_hub_builds_our_authenticator_from_the_chart(
    chart: Path,
    tmp_path: Path,
    example: str,
    crypt_key: str,
    monkeypatch: pytest.MonkeyPatch,
    clean_hub_singletons: None,
):
    with provider_for(example) as op:
        overlay = {
            "jupyterhub": {"hub": {"config": {"ImagineOAuthenticator": {"issuer": op.issuer}}}}
        }
        hub = Hub(chart, tmp_path, example, crypt_key, **overlay)
        for key, value in hub.env.items():  # the hub container's environment
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY", raising=False)
        app = JupyterHub.instance(config=hub.config)
        assert app.authenticator_class is ImagineOAuthenticator  # "imagine", an entry point
        assert app.spawner_class is ImagineKubeSpawner
        auth = app.authenticator_class(parent=app)  # as the hub does
        asyncio.run(auth.ensure_provider())  # discovery (at start-up, in the hub's loop)

    expected = load_example(example)["jupyterhub"]["hub"]["config"]["ImagineOAuthenticator"]
    assert auth.preset == expected["preset"]
    assert auth.client_id == expected["client_id"]
    assert auth.client_secret == CLIENT_SECRET  # from the existing Secret, via $OAUTH_CLIENT_SECRET
    assert auth.allowed_rules == expected["allowed_rules"]
    assert auth.capabilities == expected["capabilities"]
    assert auth.enable_auth_state and auth.manage_groups
    # discovery filled the endpoints from the provider
    assert auth.token_url.startswith(op.url) and auth.authorize_url.startswith(op.url)
    # the crypt key came from the existing Secret, not from Z2JH's generated one
    from jupyterhub.crypto import CryptKeeper

    assert CryptKeeper.instance().keys == [bytes.fromhex(crypt_key)]


@pytest.mark.fake
def test_authenticator_refuses_to_start_without_the_secret(
    chart: Path,
    tmp_path: Path,
    crypt_key: str,
    monkeypatch: pytest.MonkeyPatch,
    clean_hub_singletons: None,
):
    """Without $OAUTH_CLIENT_SECRET the authenticator stops the hub, naming the setting.

    (In a cluster a Secret lacking the key already keeps the hub container from starting.)"""
    with provider_for("keycloak.yaml") as op:
        overlay = {
            "jupyterhub": {"hub": {"config": {"ImagineOAuthenticator": {"issuer": op.issuer}}}}
        }
        hub = Hub(chart, tmp_path, "keycloak.yaml", crypt_key, **overlay)
        monkeypatch.delenv("OAUTH_CLIENT_SECRET", raising=False)
        app = JupyterHub.instance(config=hub.config)
        with pytest.raises(SystemExit, match="ImagineOAuthenticator.client_secret is not set"):
            app.authenticator_class(parent=app)


class FakeUser:
    """FAKE hub user: the spawner reads its name, groups and auth state."""

    def __init__(self, name: str, capabilities: list[str]):
        self.name = name
        self.id = 7
        self.url = f"/user/{name}/"
        self.groups: list[Any] = []
        self._capabilities = capabilities

    async def get_auth_state(self) -> dict[str, Any]:
        return {"imagine": {"capabilities": self._capabilities}}


async def pod_for(config: Config, profile: str) -> dict[str, Any]:
    spawner = offline(ImagineKubeSpawner, config=config, user=FakeUser("alice", ["gpu"]))
    spawner.user_options = {"profile": profile}
    try:
        await spawner.load_user_options()
        async with ApiClient() as client:  # closes its HTTP session (no ResourceWarning)
            pod: dict[str, Any] = client.sanitize_for_serialization(
                await spawner.get_pod_manifest()
            )
    finally:
        QUOTA_BOOK.release("alice/")  # the hub-wide quota book: leave nothing behind
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    return pod


def toleration_keys(pod: dict[str, Any]) -> set[str]:
    return {t.get("key") for t in pod["spec"].get("tolerations") or []}


def required_affinity(pod: dict[str, Any]) -> list[dict[str, Any]]:
    node = (pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}
    terms = (node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms", []
    )
    return [e for t in terms for e in t.get("matchExpressions", [])]


def preferred_affinity(pod: dict[str, Any]) -> list[dict[str, Any]]:
    node = (pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}
    terms = node.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return [e for t in terms for e in t["preference"].get("matchExpressions", [])]


Z2JH_USER_TOLERATIONS = {"hub.jupyter.org/dedicated", "hub.jupyter.org_dedicated"}
AVOID_GPU_NODES = {"key": "nvidia.com/gpu.product", "operator": "DoesNotExist"}


@pytest.mark.asyncio
@pytest.mark.fake
@pytest.mark.parametrize("example", sorted(SHAPES))
async def test_spawner_pods_from_the_chart(
    chart: Path, tmp_path: Path, example: str, crypt_key: str, fake_kubeconfig: Path
):
    hub = Hub(chart, tmp_path, example, crypt_key)
    config = hub.config
    assert config.JupyterHub.spawner_class == "imagine"
    # Live availability needs the API server (tested against a FAKE one in tests/spawner).
    config.ImagineKubeSpawner.availability_enabled = False
    cvmfs = get(hub.values, "singleuser.storage.extraVolumes")
    spawner = offline(ImagineKubeSpawner, config=config, user=FakeUser("alice", ["gpu"]))
    # the labextension's save-and-stop needs this, and only this, beyond the default
    assert spawner.oauth_client_allowed_scopes == ["delete:servers!server"]
    for profile in hub.values["singleuser"]["profileList"]:
        pod = await pod_for(config, profile["slug"])
        (container,) = pod["spec"]["containers"]
        limits = container["resources"].get("limits", {})
        gpu = profile.get("gpu")
        # Z2JH's user-node tolerations survive the GPU ones being added or removed
        assert toleration_keys(pod) >= Z2JH_USER_TOLERATIONS, profile["slug"]
        if gpu:
            resource = gpu.get("mig", "nvidia.com/gpu")
            assert limits[resource] == str(gpu["count"]), profile["slug"]
            assert "nvidia.com/gpu" in toleration_keys(pod), profile["slug"]
            if gpu.get("type") and not gpu.get("mig"):
                assert pod["spec"]["nodeSelector"]["nvidia.com/gpu.product"] == gpu["type"]
            assert AVOID_GPU_NODES not in required_affinity(pod) + preferred_affinity(pod)
        else:
            assert not any(k.startswith("nvidia.com/") for k in limits)
            assert "nvidia.com/gpu" not in toleration_keys(pod)
            # CPU servers keep off GPU nodes where they can; a preference, so that they still
            # start on clusters whose every node has a GPU
            assert AVOID_GPU_NODES in preferred_affinity(pod)
            assert AVOID_GPU_NODES not in required_affinity(pod)
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts") or []}
        if cvmfs:
            assert mounts["/cvmfs"]["mountPropagation"] == "HostToContainer"
            assert mounts["/cvmfs"]["readOnly"] is True
            (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mounts["/cvmfs"]["name"]]
            assert volume["persistentVolumeClaim"] == {"claimName": "cvmfs", "readOnly": True}
        else:
            assert "/cvmfs" not in mounts


@pytest.mark.fake
@pytest.mark.parametrize("example", sorted(SHAPES))
def test_culler_service_from_the_chart(
    chart: Path, tmp_path: Path, example: str, crypt_key: str, monkeypatch: pytest.MonkeyPatch
):
    hub = Hub(chart, tmp_path, example, crypt_key)
    names = [s["name"] for s in hub.config.JupyterHub.services]
    assert names == ["imagine-culler"]  # and not Z2JH's jupyterhub-idle-culler
    service = hub.service("imagine-culler")
    assert service["api_token"]  # Z2JH's generated token for the service
    (role,) = [r for r in hub.config.JupyterHub.load_roles if r["name"] == "imagine-culler"]
    assert role["scopes"] == culler_scopes_in_docs()
    _check_scopes_exist(role["scopes"])  # JupyterHub knows every one
    assert role["services"] == ["imagine-culler"]

    command = service["command"]
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == command[0]]
    assert script.value == "jupyterhub_imagine.culler.app:main"
    monkeypatch.chdir(tmp_path)  # no stray culler config file
    for key, value in service.get("environment", {}).items():
        monkeypatch.setenv(key, value)
    # the store is the only piece swapped: db_url points into the hub pod's volume
    culler = IdleGPUCuller(store=CullerStore("sqlite://"))
    culler.initialize(command[1:])
    assert culler.gpu_profiles == hub.gpu_slugs()  # every GPU profile, and only those
    assert culler.db_url == "sqlite:////srv/jupyterhub/imagine_culler.sqlite"  # on the hub PVC
    assert culler.servers_url == "http://proxy-public"
    culler.setup()
    if culler.activity_source == "prometheus":
        assert isinstance(culler.source, PrometheusSource)
        # the hub's egress rule (Z2JH's hub.networkPolicy) opens the way to the Prometheus
        # the culler asks
        (rule,) = get(hub.values, "hub.networkPolicy.egress")
        namespace = rule["to"][0]["namespaceSelector"]["matchLabels"]
        assert culler.prometheus_url.endswith(
            f".{namespace['kubernetes.io/metadata.name']}.svc:{rule['ports'][0]['port']}"
        )
    else:
        assert isinstance(culler.source, ServerEndpointSource)


@pytest.mark.fake
@pytest.mark.parametrize("example", sorted(SHAPES))
def test_culler_endpoints_and_home_page_warnings_from_the_chart(
    chart: Path, tmp_path: Path, example: str, crypt_key: str, monkeypatch: pytest.MonkeyPatch
):
    hub = Hub(chart, tmp_path, example, crypt_key)
    service = hub.service("imagine-culler")
    announced = urlparse(service["url"])
    # the proxy reaches the culler through the hub Service's extra port ...
    assert announced.hostname == "hub"
    extra_ports = get(hub.values, "hub.service.extraPorts")
    (port,) = [p for p in extra_ports if p["name"] == "imagine-culler"]
    assert port["port"] == announced.port
    assert "targetPort" not in port  # the port is written once
    # (the NetworkPolicies letting the proxy reach it: tests/helm/test_chart_render.py)
    # ... where the culler listens, on every address of the hub pod, announcing the Service
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", service["url"])  # as the hub sets it
    for key, value in service["environment"].items():  # the example's command kept it
        monkeypatch.setenv(key, value)
    culler = IdleGPUCuller(store=CullerStore("sqlite://"))
    culler.initialize(service["command"][1:])
    assert culler.service_url == service["url"]
    assert urlparse(culler.bind_url).port == port["port"]
    assert urlparse(culler.bind_url).hostname == "0.0.0.0"
    assert service["oauth_no_confirm"] is True  # users are not asked to authorize it

    # the hub home page template that shows the warnings, and users may fetch theirs
    app = JupyterHub(config=hub.config)
    homes = [Path(p) / "home.html" for p in app.template_paths]
    assert any(h.exists() and "imagine-gpu-warning" in h.read_text() for h in homes)
    assert app.template_vars["imagine_culler_service"] == "imagine-culler"
    (user,) = [r for r in hub.config.JupyterHub.load_roles if r["name"] == "user"]
    assert set(user["scopes"]) == {"self", "access:services!service=imagine-culler"}
    _check_scopes_exist(user["scopes"])


@pytest.mark.asyncio
@pytest.mark.fake
async def test_a_culler_renamed_in_the_values_is_wired_from_that_name_alone(
    chart: Path, tmp_path: Path, crypt_key: str, fake_kubeconfig: Path
):
    """Rename the service (Z2JH takes an entry's `name` over its key): its role, users' access,
    the home page and the name the spawner hands every server follow (on the old chart, servers
    kept accepting only the old name)."""
    example = "egi-checkin.yaml"
    overlay = {"jupyterhub": {"hub": {"services": {"imagine-culler": {"name": "gpu-reaper"}}}}}
    hub = Hub(chart, tmp_path, example, crypt_key, **overlay)
    assert [s["name"] for s in hub.config.JupyterHub.services] == ["gpu-reaper"]
    roles = {r["name"]: r for r in hub.config.JupyterHub.load_roles}
    assert roles["gpu-reaper"]["services"] == ["gpu-reaper"]
    assert roles["gpu-reaper"]["scopes"] == culler_scopes_in_docs()
    assert "access:services!service=gpu-reaper" in roles["user"]["scopes"]
    assert hub.config.JupyterHub.template_vars["imagine_culler_service"] == "gpu-reaper"
    spawner = offline(ImagineKubeSpawner, config=hub.config, user=FakeUser("alice", []))
    assert spawner.culler_service == "gpu-reaper"


@pytest.mark.fake
@pytest.mark.parametrize("example", sorted(SHAPES))
def test_launch_links_are_wired_from_the_chart(
    chart: Path, tmp_path: Path, example: str, crypt_key: str
):
    """The rendered extraConfig adds the link pages and templates; the hub builds the links'
    settings from hub.config.ImagineLinks."""
    from jupyterhub_imagine.links.handlers import BinderLaunchHandler, LaunchHandler
    from jupyterhub_imagine.links.hubconfig import TEMPLATES
    from jupyterhub_imagine.links.settings import ImagineLinks

    links = {"ImagineLinks": {"allowed_hosts": ["github.com"]}}
    overlay = {"jupyterhub": {"hub": {"config": links}}}
    hub = Hub(chart, tmp_path, example, crypt_key, **overlay)
    routes = dict(hub.config.JupyterHub.extra_handlers)
    assert routes[r"/imagine/launch"] is LaunchHandler
    assert routes[r"/imagine/v2/(.*)"] is BinderLaunchHandler
    app = JupyterHub(config=hub.config)
    assert TEMPLATES in app.template_paths
    links = ImagineLinks(config=hub.config)
    assert links.allowed_hosts == ["github.com"] and links.check_refs is True


@pytest.mark.fake
def test_launch_links_can_be_turned_off(chart: Path, tmp_path: Path, crypt_key: str):
    overlay = {"jupyterhub": {"hub": {"config": {"ImagineLinks": {"enabled": False}}}}}
    hub = Hub(chart, tmp_path, "egi-checkin.yaml", crypt_key, **overlay)
    assert not hub.config.JupyterHub.get("extra_handlers")


@pytest.mark.fake
def test_a_hub_without_git_stops_at_start_unless_ref_checks_are_off(
    chart: Path, tmp_path: Path, crypt_key: str, monkeypatch: pytest.MonkeyPatch
):
    from jupyterhub_imagine.links.hubconfig import LinksConfigError

    empty = tmp_path / "no-git-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the hub's PATH, without git
    with pytest.raises(LinksConfigError, match="ImagineLinks.check_refs is on, but git"):
        Hub(chart, tmp_path, "egi-checkin.yaml", crypt_key)
    overlay = {"jupyterhub": {"hub": {"config": {"ImagineLinks": {"check_refs": False}}}}}
    hub = Hub(chart, tmp_path, "egi-checkin.yaml", crypt_key, **overlay)
    assert hub.config.JupyterHub.extra_handlers
