"""The chart, linted and rendered by the real helm binary; our objects checked against the
Kubernetes schemas with kubernetes-validate. Z2JH itself is replaced by the TEST STUB
(tests/helm/stub-jupyterhub), see tests/helm/chart.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helm.chart import (
    CHART,
    EXAMPLES,
    K8S_VERSION,
    chart_copy,
    helm,
    render,
    write_values,
)
from tests.helm.conftest import REQUIRED

EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))

EVERYTHING_ON = {
    "imagine": {
        "cvmfs": {"enabled": True, "storageClass": {"parameters": {"clientConfig": "default"}}},
        "tokenFiles": {"enabled": True},
    },
    "jupyterhub": {
        **REQUIRED["jupyterhub"],
        "singleuser": {
            "storage": {
                "extraVolumes": {
                    "cvmfs": {
                        "name": "cvmfs",
                        "persistentVolumeClaim": {"claimName": "cvmfs", "readOnly": True},
                    }
                },
                "extraVolumeMounts": {
                    "cvmfs": {
                        "name": "cvmfs",
                        "mountPath": "/cvmfs",
                        "readOnly": True,
                        "mountPropagation": "HostToContainer",
                    }
                },
            }
        },
    },
}


CULLER_PORT = {"protocol": "TCP", "port": 10101}


def validate_all(objects: list[dict[str, Any]]) -> None:
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_install_tools_put_helm_4_in_reach():
    assert helm("version", "--short").stdout.startswith("v4.")


@pytest.mark.fake
def test_the_chart_lints_without_z2jh_downloaded(tmp_path: Path):
    """As checked in (no charts/): lint passes and only notes the missing dependency."""
    result = helm(
        "lint",
        str(chart_copy(tmp_path, with_stub=False)),
        "--values",
        str(EXAMPLES / "egi-checkin.yaml"),
    )
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "missing these dependencies: jupyterhub" in result.stdout


@pytest.mark.fake
@pytest.mark.parametrize("example", EXAMPLE_FILES)
def test_examples_lint_strictly_and_render_valid_objects(chart: Path, example: str):
    helm("lint", "--strict", str(chart), "--values", str(EXAMPLES / example))
    rendered = render(chart, EXAMPLES / example)
    validate_all(rendered.ours())
    kinds = {d["kind"] for d in rendered.ours()}
    assert {"ClusterRole", "ClusterRoleBinding"} <= kinds


@pytest.mark.fake
def test_every_object_with_everything_on_is_valid(chart: Path, tmp_path: Path):
    rendered = render(chart, write_values(tmp_path, EVERYTHING_ON))
    objects = rendered.ours()
    validate_all(objects)
    # every object in the release's namespace (none in Prometheus' or anyone else's)
    assert all("namespace" not in d["metadata"] for d in objects)
    assert sorted(d["kind"] for d in objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "NetworkPolicy",  # proxy -> culler port
        "NetworkPolicy",  # at the hub: culler port from the proxy
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "StorageClass",
    ]


@pytest.mark.fake
def test_hub_reads_nodes_and_pods_cluster_wide_as_z2jh_hub_account(chart: Path, tmp_path: Path):
    rendered = render(chart, write_values(tmp_path, REQUIRED), release="jhub", namespace="hubns")
    (role,) = rendered.find("ClusterRole")
    rules = {tuple(r["resources"]): set(r["verbs"]) for r in role["rules"]}
    assert rules == {("nodes",): {"get", "list", "watch"}, ("pods",): {"get", "list", "watch"}}
    (binding,) = rendered.find("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert "hubns" in role["metadata"]["name"]  # cluster-scoped: unique per namespace/release
    # Z2JH's default names are unprefixed (fullnameOverride: ""): the hub runs as "hub".
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub", "namespace": "hubns"}]
    assert not rendered.find("Role")  # token files off by default


@pytest.mark.fake
@pytest.mark.parametrize(
    ("overrides", "account"),
    [
        ({"jupyterhub": {"fullnameOverride": "imagine"}}, "imagine-hub"),
        ({"jupyterhub": {"fullnameOverride": None}}, "jhub-jupyterhub-hub"),
        ({"jupyterhub": {"hub": {"serviceAccount": {"name": "custom"}}}}, "custom"),
        ({"imagine": {"hub": {"serviceAccountName": "explicit"}}}, "explicit"),
    ],
)
def test_service_account_follows_z2jh_naming(
    chart: Path, tmp_path: Path, overrides: dict[str, Any], account: str
):
    rendered = render(
        chart, write_values(tmp_path, REQUIRED), write_values(tmp_path, overrides, "o.yaml")
    )
    (binding,) = rendered.find("ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == account


@pytest.mark.fake
def test_pods_cluster_wide_can_be_turned_off(chart: Path, tmp_path: Path):
    values = {**REQUIRED, "imagine": {"rbac": {"readPodsClusterWide": False}}}
    (role,) = render(chart, write_values(tmp_path, values)).find("ClusterRole")
    assert [r["resources"] for r in role["rules"]] == [["nodes"]]


@pytest.mark.fake
def test_cvmfs_storage_class_and_read_only_claim(chart: Path):
    rendered = render(chart, EXAMPLES / "egi-checkin.yaml")
    (sc,) = rendered.find("StorageClass")
    assert sc["provisioner"] == "cvmfs.csi.cern.ch"
    (pvc,) = rendered.find("PersistentVolumeClaim", "cvmfs")
    assert pvc["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert pvc["spec"]["storageClassName"] == sc["metadata"]["name"]
    # and the user pods mount that claim read-only at /cvmfs, propagating host mounts
    storage = rendered.hub_values()["singleuser"]["storage"]
    (volume,) = [v for v in storage["extraVolumes"] if v.get("persistentVolumeClaim")]
    assert volume["persistentVolumeClaim"] == {"claimName": "cvmfs", "readOnly": True}
    (mount,) = [m for m in storage["extraVolumeMounts"] if m["name"] == volume["name"]]
    assert mount == {
        "name": "cvmfs",
        "mountPath": "/cvmfs",
        "readOnly": True,
        "mountPropagation": "HostToContainer",
    }


@pytest.mark.fake
def test_existing_storage_class_is_only_referenced(chart: Path, tmp_path: Path):
    values = copy.deepcopy(EVERYTHING_ON)
    values["imagine"]["cvmfs"]["storageClass"] = {"create": False, "name": "cvmfs-automount"}
    rendered = render(chart, write_values(tmp_path, values))
    assert not rendered.find("StorageClass")
    (pvc,) = rendered.find("PersistentVolumeClaim")
    assert pvc["spec"]["storageClassName"] == "cvmfs-automount"


@pytest.mark.fake
def test_the_way_to_prometheus_is_a_rule_of_z2jhs_hub_policy(chart: Path):
    rendered = render(chart, EXAMPLES / "keycloak.yaml", release="ai", namespace="ai")
    assert not [p for p in rendered.find("NetworkPolicy") if "prometheus" in p["metadata"]["name"]]
    (rule,) = rendered.hub_values()["hub"]["networkPolicy"]["egress"]
    (peer,) = rule["to"]
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "observability"}
    }
    assert peer["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    assert rule["ports"] == [{"protocol": "TCP", "port": 9090}]


@pytest.mark.fake
def test_the_proxy_and_only_the_proxy_reaches_the_culler_port(chart: Path):
    rendered = render(chart, EXAMPLES / "keycloak.yaml", release="ai", namespace="ai")
    policies = {p["metadata"]["name"]: p for p in rendered.find("NetworkPolicy")}
    hub = {"matchLabels": {"component": "hub", "release": "ai"}}
    proxy = {"matchLabels": {"component": "proxy", "release": "ai"}}  # Z2JH's proxy pod labels
    out = policies["ai-imagine-proxy-to-culler"]["spec"]
    assert out["podSelector"] == proxy and out["policyTypes"] == ["Egress"]
    assert out["egress"] == [{"to": [{"podSelector": hub}], "ports": [CULLER_PORT]}]
    into = policies["ai-imagine-culler-from-proxy"]["spec"]
    assert into["podSelector"] == hub and into["policyTypes"] == ["Ingress"]
    assert into["ingress"] == [{"from": [{"podSelector": proxy}], "ports": [CULLER_PORT]}]
    # the port is the hub Service's extra port, written there only
    (extra,) = rendered.hub_values()["hub"]["service"]["extraPorts"]
    assert extra == {"name": "imagine-culler", "port": CULLER_PORT["port"]}


@pytest.mark.fake
def test_culler_port_policies_can_be_left_out(chart: Path, tmp_path: Path):
    off = {**REQUIRED, "imagine": {"culler": {"endpoints": {"networkPolicy": False}}}}
    names = [
        p["metadata"]["name"]
        for p in render(chart, write_values(tmp_path, off)).find("NetworkPolicy")
    ]
    assert not [n for n in names if "proxy" in n]


@pytest.mark.fake
def test_token_files_let_the_hub_replace_user_secrets(chart: Path):
    rendered = render(chart, EXAMPLES / "keycloak.yaml")
    (role,) = rendered.find("Role")
    (rule,) = role["rules"]
    assert rule["resources"] == ["secrets"]
    assert {"update", "patch"} <= set(rule["verbs"])  # what Z2JH's Role lacks
    (binding,) = rendered.find("RoleBinding")
    assert binding["subjects"][0]["name"] == "hub"


@pytest.mark.fake
def test_bundle_defaults_reach_z2jh(chart: Path, tmp_path: Path):
    values = render(chart, write_values(tmp_path, REQUIRED)).hub_values()
    assert values["cull"]["enabled"] is False  # over Z2JH's default (true in the stub too)
    config = values["hub"]["config"]
    # over Z2JH's default authenticator_class: dummy (in the stub too)
    assert config["JupyterHub"]["authenticator_class"] == "imagine"
    assert config["JupyterHub"]["spawner_class"] == "imagine"
    assert values["hub"]["services"]["imagine-culler"]["command"][0] == "jupyterhub-imagine-culler"
    # its role, users' access and the home page come from that entry alone (hubconfig)
    assert "wire_culler(c)" in values["hub"]["extraConfig"]["imagine-culler"]
    # launch links: their pages (links/hubconfig), on unless hub.config.ImagineLinks.enabled
    assert "wire_links(c)" in values["hub"]["extraConfig"]["imagine-links"]
    assert config["ImagineLinks"] == {"enabled": True, "allowed_hosts": [], "check_refs": True}
    slugs = [p["slug"] for p in values["singleuser"]["profileList"]]
    assert slugs == ["cpu", "gpu"]


@pytest.mark.fake
def test_without_z2jh_only_our_objects_render(tmp_path: Path):
    """jupyterhub.enabled=false: for a Z2JH release managed separately; no hub wiring checks."""
    chart = chart_copy(tmp_path)
    rendered = render(chart, write_values(tmp_path, {"jupyterhub": {"enabled": False}}))
    assert all(
        source.startswith("jupyterhub-imagine/templates/") for source, _ in rendered.documents
    )
    assert rendered.find("ClusterRoleBinding")


def test_values_file_keys_are_all_in_the_schema():
    """values.yaml and values.schema.json describe the same imagine: keys."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["imagine"]

    def keys(node: dict[str, Any], prefix: str = "") -> set[str]:
        found = set()
        for k, v in node.items():
            found.add(prefix + k)
            if isinstance(v, dict) and v and not k.endswith(("Labels", "parameters")):
                found |= keys(v, f"{prefix}{k}.")
        return found

    def schema_keys(node: dict[str, Any], prefix: str = "") -> set[str]:
        found = set()
        for k, v in node.get("properties", {}).items():
            found.add(prefix + k)
            if v.get("additionalProperties") is False:
                found |= schema_keys(v, f"{prefix}{k}.")
        return found

    assert keys(defaults) == schema_keys(schema["properties"]["imagine"])
