"""The emulated cluster's FAKE parts on their own (no process started): what the kubelet runs
and writes, where the scheduler puts pods, how Service names and binds are resolved."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.spawner.fake_kube import node

from .api import fits
from .kubelet import DEFAULT_IMAGE, container_argv, write_volume
from .network import Network, Services, bind_in_pod

pytestmark = pytest.mark.fake


def test_container_argv_follows_kubernetes_command_and_args() -> None:
    image = {"entrypoint": ["tini", "--"], "cmd": ["start-notebook.py"]}
    assert container_argv({}, image) == ["tini", "--", "start-notebook.py"]
    # KubeSpawner's way: args only, the image's entrypoint runs them
    assert container_argv({"args": ["jupyterhub-singleuser", "--ip=0.0.0.0"]}, image) == [
        "tini", "--", "jupyterhub-singleuser", "--ip=0.0.0.0"]
    # a command replaces the entrypoint and drops the image's cmd
    assert container_argv({"command": ["sleep"]}, image) == ["sleep"]
    assert container_argv({"command": ["sleep"], "args": ["5"]}, image) == ["sleep", "5"]
    assert container_argv({}, DEFAULT_IMAGE) == ["start-notebook.py"]


def test_secret_and_configmap_volumes_are_written_with_their_mode(tmp_path: Path) -> None:
    objects = {
        "secrets": {"jhub/tokens": {"data": {"access_token": base64.b64encode(b"t0").decode()}}},
        "configmaps": {"jhub/settings": {"data": {"a.json": "{}"}}},
    }
    secret = {"name": "t", "secret": {"secretName": "tokens", "defaultMode": 0o440}}
    write_volume(tmp_path / "s", secret, objects, "jhub")
    assert (tmp_path / "s" / "access_token").read_bytes() == b"t0"
    assert (tmp_path / "s" / "access_token").stat().st_mode & 0o777 == 0o440
    write_volume(tmp_path / "c", {"name": "c", "configMap": {"name": "settings"}}, objects, "jhub")
    assert (tmp_path / "c" / "a.json").read_text() == "{}"
    # a replaced Secret: the files are rewritten, removed keys disappear
    objects["secrets"]["jhub/tokens"] = {"data": {"id_token": base64.b64encode(b"i").decode()}}
    write_volume(tmp_path / "s", secret, objects, "jhub")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["id_token"]
    # an optional Secret not created yet: an empty directory; other volumes: empty too
    write_volume(tmp_path / "o", {"name": "o", "secret": {"secretName": "none"}}, objects, "jhub")
    write_volume(tmp_path / "p", {"name": "p", "persistentVolumeClaim": {}}, objects, "jhub")
    assert not list((tmp_path / "o").iterdir()) and (tmp_path / "p").is_dir()


def gpu_pod(count: int, selector: dict[str, str] | None = None) -> dict[str, object]:
    limits = {"nvidia.com/gpu": str(count)} if count else {}
    return {"spec": {"nodeSelector": selector or {},
                     "containers": [{"name": "c", "resources": {"limits": limits}}]}}


def test_scheduler_respects_selectors_affinity_and_free_gpus() -> None:
    gpu = node("g", product="V100", gpus=2)
    cpu = node("c")
    assert fits(gpu_pod(1, {"nvidia.com/gpu.product": "V100"}), gpu, {})
    assert not fits(gpu_pod(1, {"nvidia.com/gpu.product": "V100"}), cpu, {})
    assert not fits(gpu_pod(1), gpu, {"nvidia.com/gpu": 2})  # both GPUs taken
    assert fits(gpu_pod(2), gpu, {})
    assert not fits(gpu_pod(1), node("n", product="V100", gpus=1, ready=False), {})
    avoid = gpu_pod(0)
    avoid["spec"]["affinity"] = {"nodeAffinity": {  # type: ignore[index]
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "nvidia.com/gpu.product",
                                   "operator": "DoesNotExist"}]}]}}}
    assert fits(avoid, cpu, {}) and not fits(avoid, gpu, {})


def test_service_names_resolve_to_pod_addresses() -> None:
    net = Network("127.9.9")
    services = Services.for_cluster(net, [{"name": "x", "port": 10101, "targetPort": 10102}])
    assert services.resolve_url("http://hub:8081/hub/api") == "http://127.9.9.3:8081/hub/api"
    assert services.resolve_url("http://hub:10101") == "http://127.9.9.1:10102"
    assert services.resolve_url("http://proxy-public") == "http://127.9.9.2:8000"
    assert services.resolve_url("http://example.org:80/") == "http://example.org:80/"
    assert Services.from_json(services.as_json()) == services
    assert bind_in_pod("http://0.0.0.0:10101", "127.9.9.1") == "http://127.9.9.1:10101"
    assert bind_in_pod("http://127.0.0.1:1", "127.9.9.1") == "http://127.0.0.1:1"
    assert [net.pod_ip(), net.pod_ip()] == ["127.9.9.10", "127.9.9.11"]
