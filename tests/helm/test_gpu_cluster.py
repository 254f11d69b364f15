"""What a real GPU cluster needs from the chart: pre-pulled GPU images, CVMFS on tainted nodes,
service names that follow the release (fullnameOverride, autohttps), the culler's port written
once, the hub's ServiceAccount, secrets kept out of values, cluster-wide names that do not
collide, and Z2JH's own network policy values. Rendered with the TEST STUB of Z2JH and loaded
the way Z2JH's hub loads them (tests/helm/chart.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyterhub_imagine.startup import wire_z2jh_services, z2jh_proxy_url
from tests.helm.chart import (
    ROOT,
    HubSecrets,
    get,
    hub_config,
    managed_secret,
    render,
    render_error,
    write_values,
)
from tests.helm.conftest import REQUIRED

GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def rendered_with(chart: Path, tmp_path: Path, **overlay: Any):
    files = [write_values(tmp_path, REQUIRED)]
    if overlay:
        files.append(write_values(tmp_path, overlay, "overlay.yaml"))
    return render(chart, *files)


def culler_service(rendered) -> dict[str, Any]:
    """The culler service as the hub gets it, after Z2JH's config and our extraConfig ran."""
    values = rendered.hub_values()
    secrets = HubSecrets({}, None, managed_secret(values))
    c = hub_config(values, secrets, namespace="jhub", names=rendered.hub_names())
    (service,) = [s for s in c.JupyterHub.services if s["name"] == "imagine-culler"]
    return service


@pytest.mark.fake
def test_image_pullers_tolerate_what_gpu_pods_tolerate(chart: Path, tmp_path: Path):
    values = rendered_with(chart, tmp_path).hub_values()
    pullers = values["prePuller"]["extraTolerations"]
    assert GPU_TAINT in pullers
    assert values["hub"]["config"]["ImagineKubeSpawner"]["gpu_tolerations"] == pullers


@pytest.mark.fake
def test_cvmfs_node_plugin_values_tolerate_every_taint_user_pods_tolerate(
    chart: Path, tmp_path: Path
):
    plugin = yaml.safe_load((ROOT / "helm" / "cvmfs-csi" / "values-gpu-nodes.yaml").read_text())
    tolerations = plugin["nodeplugin"]["tolerations"]
    values = rendered_with(chart, tmp_path).hub_values()
    user_pods = values["scheduling"]["userPods"]["tolerations"]
    gpu_pods = values["hub"]["config"]["ImagineKubeSpawner"]["gpu_tolerations"]
    for toleration in [*user_pods, *gpu_pods]:
        assert toleration in tolerations
    docs = (ROOT / "docs" / "helm.md").read_text()
    assert "helm/cvmfs-csi/values-gpu-nodes.yaml" in docs


@pytest.mark.fake
@pytest.mark.parametrize(
    ("overlay", "hub", "servers"),
    [
        ({}, "http://hub:10101", "http://proxy-public"),
        ({"fullnameOverride": "ai"}, "http://ai-hub:10101", "http://ai-proxy-public"),
        ({"fullnameOverride": None}, "http://jhub-jupyterhub-hub:10101",
         "http://jhub-jupyterhub-proxy-public"),
        # autohttps: proxy-public is Traefik (redirects to HTTPS); the proxy is proxy-http:8000
        ({"proxy": {"https": {"enabled": True, "type": "letsencrypt", "hosts": ["ai.example"]}}},
         "http://hub:10101", "http://proxy-http:8000"),
        ({"fullnameOverride": "ai",
          "proxy": {"https": {"enabled": True, "type": "letsencrypt", "hosts": ["ai.example"]}}},
         "http://ai-hub:10101", "http://ai-proxy-http:8000"),
        # TLS offloaded in front of the proxy: proxy-public still speaks HTTP on port 80
        ({"proxy": {"https": {"enabled": True, "type": "offload"}}},
         "http://hub:10101", "http://proxy-public"),
    ],
)
def test_service_urls_follow_the_release_names(
    chart: Path, tmp_path: Path, overlay: dict[str, Any], hub: str, servers: str
):
    service = culler_service(rendered_with(chart, tmp_path, jupyterhub=overlay))
    assert service["url"] == hub
    assert service["environment"]["JUPYTERHUB_IMAGINE_SERVERS_URL"] == servers
    assert service["environment"]["JUPYTERHUB_IMAGINE_CULLER_BIND_URL"] == "http://0.0.0.0:10101"


@pytest.mark.fake
def test_the_culler_port_is_written_once(chart: Path, tmp_path: Path):
    moved = {"hub": {"service": {"extraPorts": [{"name": "imagine-culler", "port": 10102}]}}}
    rendered = rendered_with(chart, tmp_path, jupyterhub=moved)
    ports = {
        p["port"]
        for policy in rendered.find("NetworkPolicy")
        for rule in policy["spec"].get("egress", []) + policy["spec"].get("ingress", [])
        for p in rule["ports"]
    }
    assert ports == {10102}
    service = culler_service(rendered)
    assert service["url"] == "http://hub:10102"
    assert service["environment"]["JUPYTERHUB_IMAGINE_CULLER_BIND_URL"] == "http://0.0.0.0:10102"


@pytest.mark.fake
def test_explicit_service_settings_win(chart: Path, tmp_path: Path):
    mine = {"hub": {"services": {"imagine-culler": {
        "url": "http://culler.example:1",
        "environment": {"JUPYTERHUB_IMAGINE_SERVERS_URL": "https://ai.example"},
    }}}}
    service = culler_service(rendered_with(chart, tmp_path, jupyterhub=mine))
    assert service["url"] == "http://culler.example:1"
    assert service["environment"]["JUPYTERHUB_IMAGINE_SERVERS_URL"] == "https://ai.example"


def test_wiring_names_what_is_missing():
    def getter(values: dict[str, Any]):
        return lambda key, default=None: get(values, key, default)

    names = {"hub": "hub", "proxy-public": "proxy-public"}
    with pytest.raises(ValueError, match="extraPorts needs an entry named 'imagine-culler'"):
        wire_z2jh_services(None, getter({}), names.__getitem__)
    manual = getter({"proxy": {"https": {"enabled": True, "type": "manual"}}})
    with pytest.raises(ValueError, match="JUPYTERHUB_IMAGINE_SERVERS_URL"):
        z2jh_proxy_url(manual, names.__getitem__)


@pytest.mark.fake
@pytest.mark.parametrize(
    ("service_account", "subject"),
    [
        ({"create": False}, "default"),  # Z2JH runs the hub as the namespace's default account
        ({"create": False, "name": "existing"}, "existing"),
        ({"create": True}, "hub"),
    ],
)
def test_node_reading_binds_the_account_the_hub_runs_as(
    chart: Path, tmp_path: Path, service_account: dict[str, Any], subject: str
):
    overlay = {"hub": {"serviceAccount": service_account}}
    rendered = rendered_with(chart, tmp_path, jupyterhub=overlay)
    (binding,) = rendered.find("ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == subject


@pytest.mark.fake
def test_z2jh_generates_the_crypt_key_no_existing_secret_needed(chart: Path, tmp_path: Path):
    values = copy.deepcopy(REQUIRED)
    del values["jupyterhub"]["hub"]["existingSecret"]
    rendered = render(chart, write_values(tmp_path, values))
    assert rendered.ours()
    generated = managed_secret(rendered.hub_values())
    assert generated["hub.config.CryptKeeper.keys"]  # what Z2JH's hub Secret carries


@pytest.mark.fake
def test_a_service_token_in_values_is_refused(chart: Path, tmp_path: Path):
    values = copy.deepcopy(REQUIRED)
    values["jupyterhub"]["hub"]["services"] = {"imagine-culler": {"apiToken": "ab" * 32}}
    error = render_error(chart, write_values(tmp_path, values))
    assert "jupyterhub.hub.services.imagine-culler.apiToken must not be set" in error


@pytest.mark.fake
def test_cluster_wide_storage_class_names_do_not_collide(chart: Path, tmp_path: Path):
    cvmfs = {
        "imagine": {"cvmfs": {"enabled": True}},
        "jupyterhub": {"singleuser": {"storage": {
            "extraVolumes": [{"name": "cvmfs", "persistentVolumeClaim": {
                "claimName": "cvmfs", "readOnly": True}}],
            "extraVolumeMounts": [{"name": "cvmfs", "mountPath": "/cvmfs", "readOnly": True,
                                   "mountPropagation": "HostToContainer"}],
        }}},
    }
    files = [write_values(tmp_path, REQUIRED), write_values(tmp_path, cvmfs, "cvmfs.yaml")]
    names = set()
    for namespace in ("a", "b"):
        (sc,) = render(chart, *files, namespace=namespace).find("StorageClass")
        (pvc,) = render(chart, *files, namespace=namespace).find("PersistentVolumeClaim")
        assert pvc["spec"]["storageClassName"] == sc["metadata"]["name"]
        names.add(sc["metadata"]["name"])
    assert len(names) == 2


@pytest.mark.fake
def test_user_pod_networking_is_z2jhs_own_values(chart: Path, tmp_path: Path):
    values = rendered_with(chart, tmp_path).hub_values()
    # stated, so that admins see why an in-cluster Keycloak/MinIO/WebDAV is unreachable
    assert values["singleuser"]["networkPolicy"]["egressAllowRules"]["privateIPs"] is False
    opened = {"singleuser": {"networkPolicy": {"egressAllowRules": {"privateIPs": True}}}}
    values = rendered_with(chart, tmp_path, jupyterhub=opened).hub_values()
    assert values["singleuser"]["networkPolicy"]["egressAllowRules"]["privateIPs"] is True
    # the hub's way to Prometheus is a rule in Z2JH's hub policy, not an object of ours
    (rule,) = values["hub"]["networkPolicy"]["egress"]
    assert rule["ports"] == [{"port": 9090, "protocol": "TCP"}]
