"""Journeys of GPU users on the emulated cluster, with the culler service RENAMED in the values.

FAKE: the Kubernetes API server, scheduler and kubelet, and NVML in the pods (see cluster.py).
Real: helm, the hub with our authenticator and spawner, the proxy, the culler as the hub's
managed service, jupyterhub-singleuser with the server extension, the OpenID provider.

The deployment names the culler service ``gpu-reaper`` instead of the chart's
``imagine-culler`` (the one change an admin makes: the key of its ``hub.services`` entry), so
every journey here also checks that the name reaches the hub's roles, the home page and the
servers that must accept the culler's warnings.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from jupyterhub_imagine import contract

from .cluster import GPU_NODE_GPUS, GPU_PRODUCT, NAMESPACE, EmulatedCluster, hub_user

pytestmark = [pytest.mark.fake, pytest.mark.cluster]
RENAMED = "gpu-reaper"
CLUSTER = {"culler_service": RENAMED}


def home_page_warnings(cluster: EmulatedCluster, name: str) -> list[dict[str, object]]:
    """The warnings the hub home page shows ``name``: the page's frame, loaded as a browser
    would with the user's hub cookie (OAuth with the culler service on the way)."""
    session = cluster.sessions[name]
    home = session.get(f"{cluster.public_url}/hub/home", timeout=30)
    assert home.status_code == 200, home.text[-2000:]
    match = re.search(r'id="imagine-gpu-warnings"\s+data-url="([^"]+)"', home.text)
    assert match, "the hub home page lost its warnings box"
    assert match.group(1) == f"/services/{RENAMED}/warnings"
    frame = session.get(f"{cluster.public_url}{match.group(1)}", timeout=30)
    assert frame.status_code == 200, frame.text[-2000:]
    data = re.search(r'id="imagine-gpu-warnings-data"[^>]*>(.*?)</script>', frame.text, re.S)
    assert data, frame.text[-2000:]
    return json.loads(data.group(1))["warnings"]  # type: ignore[no-any-return]


def test_idle_gpu_server_is_warned_then_stopped(cluster: EmulatedCluster) -> None:
    pod = cluster.start_server("ada")
    try:
        # the spawner handed the server the renamed culler service
        environ = Path(f"/proc/{pod.proc.pid}/environ").read_bytes().split(b"\0")
        assert f"{contract.ENV_CULLER_SERVICE}={RENAMED}".encode() in environ
        warning = cluster.wait_for("a warning on ada's idle server",
                                   lambda: cluster.warning("ada"), timeout=60)
        assert warning["stop_at"] > warning["issued_at"]
        assert warning["postponements_left"] >= 1
        shown = cluster.wait_for("the warning on ada's hub home page",
                                 lambda: home_page_warnings(cluster, "ada"), timeout=30)
        assert [w["stop_at"] for w in shown] == [warning["stop_at"]]
        assert shown[0]["server"] == ""
        cluster.wait_for("ada's idle server to be stopped",
                         lambda: not cluster.server("ada"), timeout=60)
        cluster.wait_for("ada's pod to be deleted", lambda: cluster.pod_gone("ada"))
        assert pod.proc.poll() is not None  # the kubelet ended the server's process
        assert cluster.metrics().get('imagine_culler_culls_total{reason="gpu-idle"}') == 1
        assert time.time() >= warning["stop_at"] - 1  # not before the time it announced
    finally:
        cluster.stop_servers(["ada"])


def test_busy_gpu_server_is_never_warned(cluster: EmulatedCluster) -> None:
    cluster.start_server("ben")
    try:
        cluster.set_gpu_utilization("ben", 85)
        start = time.time()
        # longer than an idle server takes to be warned (5 s idle) and stopped (8 s later)
        settle = 5 + 8 + 4
        cluster.wait_cycle_after(start + settle, timeout=settle + 60)
        assert cluster.server("ben").get("ready")
        assert cluster.warning("ben") is None
        assert not [line for line in cluster.pod("ben").log.splitlines()
                    if "PUT" in line and "api/warning" in line]
        assert cluster.metrics().get('imagine_culler_gpu_servers{state="active"}') == 1
    finally:
        cluster.stop_servers(["ben"])


def test_keep_answer_postpones_the_stop(cluster: EmulatedCluster) -> None:
    cluster.start_server("cy")
    try:
        warning = cluster.wait_for("a warning on cy's idle server",
                                   lambda: cluster.warning("cy"), timeout=60)
        answer = cluster.server_api("cy", "POST", "jupyterhub-imagine/api/warning/keep",
                                    token=cluster.token("cy"))
        assert answer.status_code == 200, answer.text
        kept = answer.json()["warning"]
        assert kept["postponements_left"] == warning["postponements_left"] - 1
        assert kept["stop_at"] >= kept["keep_requested_at"] + 30  # postpone_by
        # the first stop time passes, and culler cycles after it keep the server
        cluster.wait_cycle_after(warning["stop_at"] + 3, timeout=60)
        assert cluster.server("cy").get("ready"), "stopped despite the keep answer"
        current = cluster.warning("cy")
        assert current is not None and current["stop_at"] >= kept["stop_at"] - 1
        assert cluster.metrics().get("imagine_culler_postponements_total") == 1
    finally:
        cluster.stop_servers(["cy"])


def test_token_secret_reaches_the_pod(cluster: EmulatedCluster) -> None:
    pod = cluster.start_server("dee")
    secret_name = f"{NAMESPACE}/imagine-tokens-dee-umbrellaid-org"
    try:
        model = cluster.admin_json("GET", f"/users/{hub_user('dee')}")
        access_token = model["auth_state"]["access_token"]
        secrets = cluster.loop.call(lambda: dict(cluster.api.objects["secrets"]))  # type: ignore
        matching = [k for k in secrets if k.startswith(f"{NAMESPACE}/imagine-tokens-dee")]
        assert len(matching) == 1, sorted(secrets)
        secret_name = matching[0]
        data = secrets[secret_name]["data"]
        assert base64.b64decode(data["access_token"]).decode() == access_token
        # in the pod: the file its environment names holds the token
        environ = dict(item.split(b"=", 1) for item in
                       Path(f"/proc/{pod.proc.pid}/environ").read_bytes().split(b"\0") if item)
        path = environ[b"IMAGINE_ACCESS_TOKEN_FILE"].decode()
        assert path.startswith(str(pod.root) + "/var/run/secrets/egi.eu/")
        assert Path(path).read_text() == access_token
        assert Path(path).stat().st_mode & 0o777 == 0o440
    finally:
        cluster.stop_servers(["dee"])
    # the hub deletes the Secret when the user's last server stops
    cluster.wait_for("the token Secret to be deleted", lambda: secret_name not in
                     cluster.loop.call(lambda: set(cluster.api.objects["secrets"])))  # type: ignore


def free_gpus_in_form(cluster: EmulatedCluster, name: str) -> tuple[int, int]:
    """(free, total) GPUs of the GPU profile, as the spawn form shows them to ``name``."""
    page = cluster.sessions[name].get(
        f"{cluster.public_url}/hub/spawn/{hub_user(name)}", timeout=30)
    assert page.status_code == 200, page.text[-2000:]
    found = re.findall(rf"(\d+) of (\d+) {GPU_PRODUCT} GPUs free", page.text)
    assert len(found) == 1, page.text[-3000:]
    return int(found[0][0]), int(found[0][1])


def test_availability_follows_pods_coming_and_going(cluster: EmulatedCluster) -> None:
    cluster.login("ada")
    total = GPU_NODE_GPUS
    cluster.wait_for("the form to show every GPU free (pods of earlier tests gone)",
                     lambda: free_gpus_in_form(cluster, "ada") == (total, total))
    cluster.start_servers(["ben", "cy"])
    try:
        on_gpu_node = [p for p in cluster.pods().values()
                       if p["spec"].get("nodeName") == "gpu-node-1"]
        assert len(on_gpu_node) == total
        cluster.wait_for("the form to show no GPU free",
                         lambda: free_gpus_in_form(cluster, "ada") == (0, total))
        cluster.stop_servers(["ben"])
        cluster.wait_for("the form to show one GPU free",
                         lambda: free_gpus_in_form(cluster, "ada") == (1, total))
    finally:
        cluster.stop_servers(["ben", "cy"])
    cluster.wait_for("the form to show every GPU free",
                     lambda: free_gpus_in_form(cluster, "ada") == (total, total))
