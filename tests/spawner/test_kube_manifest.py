"""ImagineKubeSpawner pod manifests, field by field, validated against the Kubernetes schemas.

The Kubernetes API is FAKE (tests/spawner/fake_kube.py); the hub user is a STUB (conftest).
"""

from __future__ import annotations

import time
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient

from jupyterhub_imagine.spawner.compat import SpawnRefused

from .conftest import A100, MIG, StubUser

pytestmark = pytest.mark.fake

LABEL = "nvidia.com/gpu.product"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
K8S_VERSIONS = ["1.29.0", "1.33.0"]


async def manifest(spawner, options: dict[str, Any], group_overrides: bool = True) -> dict:
    spawner.user_options = options
    if group_overrides:
        await spawner.apply_group_overrides()
    await spawner.load_user_options()
    async with ApiClient() as client:
        pod = client.sanitize_for_serialization(await spawner.get_pod_manifest())
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
    return pod


def container(pod: dict) -> dict:
    (c,) = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    return c


def env(pod: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container(pod).get("env", [])}


def gpu_resources(pod: dict) -> tuple[dict, dict]:
    res = container(pod)["resources"]
    pick = lambda d: {k: v for k, v in (d or {}).items() if k.startswith("nvidia.com/")}  # noqa: E731
    return pick(res.get("limits")), pick(res.get("requests"))


def affinity_exprs(pod: dict) -> list[dict]:
    node = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
    req = node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return [e for t in req.get("nodeSelectorTerms", []) for e in t.get("matchExpressions", [])]


def preferred_exprs(pod: dict) -> list[dict]:
    node = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
    terms = node.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return [e for t in terms for e in t["preference"].get("matchExpressions", [])]


AVOID = {"key": LABEL, "operator": "DoesNotExist"}
ALICE = StubUser("alice", caps=("gpu",))


@pytest.mark.asyncio
async def test_cpu_profile_never_requests_a_gpu_and_stays_off_gpu_nodes(make_spawner):
    pod = await manifest(make_spawner(ALICE), {"profile": "cpu", "image": "r"})
    assert gpu_resources(pod) == ({}, {})
    assert LABEL not in (pod["spec"].get("nodeSelector") or {})
    assert GPU_TOLERATION not in (pod["spec"].get("tolerations") or [])
    assert AVOID in preferred_exprs(pod)  # a preference: see test_kube_scheduling.py
    assert env(pod)["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert env(pod)["JUPYTERHUB_IMAGINE_PROFILE"] == "cpu"
    assert container(pod)["image"] == "quay.io/jupyter/r-notebook"
    assert container(pod)["resources"]["requests"] == {"cpu": 1.0, "memory": 2 * 1024**3}
    assert pod["metadata"]["annotations"]["jupyterhub-imagine/gpus"] == "0"


@pytest.mark.asyncio
async def test_unlisted_image_choice_is_applied(make_spawner):
    pod = await manifest(make_spawner(ALICE),
                         {"profile": "cpu", "image--unlisted-choice": "quay.io/me/lab:1"})
    assert container(pod)["image"] == "quay.io/me/lab:1"
    with pytest.raises(SpawnRefused) as info:
        await manifest(make_spawner(ALICE), {"profile": "cpu", "image": "evil.example/x"})
    assert info.value.status_code == 400


@pytest.mark.asyncio
@pytest.mark.parametrize("slug,count", [("gpu-a100", "1"), ("gpu2-a100", "2")])
async def test_full_gpu_profiles_request_their_type_and_count(make_spawner, slug, count):
    pod = await manifest(make_spawner(ALICE), {"profile": slug})
    assert gpu_resources(pod) == ({"nvidia.com/gpu": count}, {"nvidia.com/gpu": count})
    assert pod["spec"]["nodeSelector"] == {LABEL: A100}
    assert GPU_TOLERATION in pod["spec"]["tolerations"]
    assert affinity_exprs(pod) == []
    assert "NVIDIA_VISIBLE_DEVICES" not in env(pod)
    assert pod["metadata"]["annotations"]["jupyterhub-imagine/profile"] == slug
    assert pod["metadata"]["annotations"]["jupyterhub-imagine/gpus"] == count


@pytest.mark.asyncio
async def test_mig_profile_requests_only_its_slice(make_spawner):
    pod = await manifest(make_spawner(ALICE), {"profile": "mig-1g"})
    assert gpu_resources(pod) == ({MIG: "1"}, {MIG: "1"})
    assert LABEL not in (pod["spec"].get("nodeSelector") or {})
    assert GPU_TOLERATION in pod["spec"]["tolerations"]


@pytest.mark.asyncio
async def test_nothing_leaks_from_a_gpu_spawn_into_a_later_cpu_spawn(make_spawner):
    spawner = make_spawner(ALICE, tolerations=[{"key": "site", "operator": "Exists"}])
    gpu = await manifest(spawner, {"profile": "gpu-a100"})
    assert container(gpu)["image"] == "quay.io/jupyter/pytorch-notebook:cuda12"
    await spawner.stop()  # FAKE: the pod does not exist; stop releases what the spawn held
    cpu = await manifest(spawner, {"profile": "cpu", "image": "scipy"})
    assert gpu_resources(cpu) == ({}, {})
    assert LABEL not in (cpu["spec"].get("nodeSelector") or {})
    assert cpu["spec"]["tolerations"] == [{"key": "site", "operator": "Exists"}]
    assert container(cpu)["resources"]["requests"] == {"cpu": 1.0, "memory": 2 * 1024**3}
    assert container(cpu)["image"] == "quay.io/jupyter/scipy-notebook"
    # and back: the CPU spawn's affinity does not stick to the next GPU spawn
    await spawner.stop()
    again = await manifest(spawner, {"profile": "gpu2-a100"}, group_overrides=False)
    assert affinity_exprs(again) == [] and preferred_exprs(again) == []
    assert "NVIDIA_VISIBLE_DEVICES" not in env(again)
    assert container(again)["image"] == "quay.io/jupyter/base-notebook"


@pytest.mark.asyncio
async def test_gpu_limits_hold_after_group_and_profile_overrides(make_spawner):
    sneaky = [
        {"display_name": "CPU", "slug": "cpu",
         "kubespawner_override": {"extra_resource_limits": {"nvidia.com/gpu": "4"},
                                  "tolerations": [GPU_TOLERATION]}},
        {"display_name": "One", "slug": "one", "requires": ["gpu"], "gpu": {"count": 1},
         "kubespawner_override": {"extra_resource_limits": {"nvidia.com/gpu": "8", MIG: "2"}}},
    ]
    group_overrides = {"01-gpu-heavy": {
        "groups": ["staff"],
        "spawner_override": {"extra_resource_guarantees": {"nvidia.com/gpu": "4"},
                             "environment": {"STAFF": "1"}},
    }}
    user = StubUser("carol", groups=("staff",), caps=("gpu",))
    spawner = make_spawner(user, profile_list=sneaky, group_overrides=group_overrides)
    cpu = await manifest(spawner, {"profile": "cpu"})
    assert gpu_resources(cpu) == ({}, {})
    assert cpu["spec"].get("tolerations") in (None, [])
    assert env(cpu)["STAFF"] == "1"
    one = await manifest(spawner, {"profile": "one"})
    assert gpu_resources(one) == ({"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"})


@pytest.mark.asyncio
async def test_gpu_session_deadline_is_in_env_and_annotation(make_spawner):
    spawner = make_spawner(ALICE, gpu_max_session_seconds=3600)
    before = time.time()
    pod = await manifest(spawner, {"profile": "gpu-a100"})
    deadline = int(env(pod)["JUPYTERHUB_IMAGINE_GPU_DEADLINE"])
    assert before + 3600 - 1 <= deadline <= time.time() + 3600
    assert pod["metadata"]["annotations"]["jupyterhub-imagine/gpu-deadline"] == str(deadline)
    assert spawner.get_state()["imagine_gpu_deadline"] == pytest.approx(deadline, abs=1)
    await spawner.stop()
    cpu = await manifest(spawner, {"profile": "cpu"})
    assert "JUPYTERHUB_IMAGINE_GPU_DEADLINE" not in env(cpu)


@pytest.mark.asyncio
async def test_user_without_the_capability_is_refused_with_400(make_spawner):
    bob = StubUser("bob")
    with pytest.raises(SpawnRefused) as info:
        await manifest(make_spawner(bob), {"profile": "gpu-a100"})
    assert info.value.status_code == 400
    assert "needs gpu" in str(info.value.log_message or info.value)
    form = await make_spawner(bob).get_options_form()
    assert 'value="cpu"' in form and "gpu-a100" not in form
