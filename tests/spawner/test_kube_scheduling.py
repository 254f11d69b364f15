"""Where pods land with and without GPU feature discovery, runtime classes, the MIG strategy.

Pod manifests from real ImagineKubeSpawner objects (FAKE Kubernetes API, STUB user), validated
against the Kubernetes schemas.
"""

from __future__ import annotations

import pytest
from traitlets.config import Config

from jupyterhub_imagine.spawner.kube import ImagineKubeSpawner
from jupyterhub_imagine.spawner.profiles import ProfileConfigError, parse_profiles
from jupyterhub_imagine.startup import spawner_config_problems

from .conftest import A100, PROFILES
from .test_kube_manifest import (
    ALICE,
    AVOID,
    LABEL,
    affinity_exprs,
    manifest,
    preferred_exprs,
)

pytestmark = pytest.mark.fake  # the Kubernetes API (fake_kube.py)


@pytest.mark.fake
@pytest.mark.asyncio
async def test_cpu_pods_prefer_nodes_without_gpus_and_start_where_every_node_has_one(
    make_spawner,
):
    """The default is a preference: on a cluster whose every node has the GPU label (GPU
    feature discovery everywhere), a required DoesNotExist term would match no node at all."""
    pod = await manifest(make_spawner(ALICE), {"profile": "cpu"})
    assert affinity_exprs(pod) == []
    assert preferred_exprs(pod) == [AVOID]
    again = await manifest(make_spawner(ALICE, cpu_avoid_gpu_nodes=True), {"profile": "cpu"})
    assert affinity_exprs(again) == [] and preferred_exprs(again) == [AVOID]


@pytest.mark.fake
@pytest.mark.asyncio
async def test_required_avoidance_and_off_are_explicit(make_spawner):
    strict = await manifest(make_spawner(ALICE, cpu_avoid_gpu_nodes="required"), {"profile": "cpu"})
    assert AVOID in affinity_exprs(strict) and preferred_exprs(strict) == []
    off = await manifest(make_spawner(ALICE, cpu_avoid_gpu_nodes=False), {"profile": "cpu"})
    assert affinity_exprs(off) == [] and preferred_exprs(off) == []


@pytest.mark.fake
@pytest.mark.asyncio
async def test_without_gpu_feature_discovery_nothing_selects_on_a_missing_label(make_spawner):
    untyped = [p for p in PROFILES if not (p.get("gpu") or {}).get("type")]
    spawner = make_spawner(ALICE, gpu_product_label="", profile_list=untyped)
    cpu = await manifest(spawner, {"profile": "cpu"})
    assert affinity_exprs(cpu) == [] and preferred_exprs(cpu) == []
    await spawner.stop()
    mig = await manifest(spawner, {"profile": "mig-1g"})
    assert not mig["spec"].get("nodeSelector")


def test_typed_profiles_without_a_product_label_stop_the_hub_at_start():
    c = Config()
    c.ImagineKubeSpawner.gpu_product_label = ""
    c.ImagineKubeSpawner.profile_list = PROFILES
    (problem,) = spawner_config_problems(c, ImagineKubeSpawner)
    assert "gpu_product_label is empty" in problem and "'gpu-a100'" in problem
    c.ImagineKubeSpawner.gpu_product_label = LABEL
    assert spawner_config_problems(c, ImagineKubeSpawner) == []


@pytest.mark.fake
@pytest.mark.asyncio
async def test_gpu_pods_get_the_runtime_class_cpu_pods_never(make_spawner):
    spawner = make_spawner(ALICE, gpu_runtime_class_name="nvidia",
                           extra_pod_config={"runtimeClassName": "nvidia"})
    gpu = await manifest(spawner, {"profile": "gpu-a100"})
    assert gpu["spec"]["runtimeClassName"] == "nvidia"
    await spawner.stop()
    cpu = await manifest(spawner, {"profile": "cpu"})
    assert "runtimeClassName" not in cpu["spec"]
    plain = await manifest(make_spawner(ALICE), {"profile": "gpu-a100"})
    assert "runtimeClassName" not in plain["spec"]


@pytest.mark.fake
@pytest.mark.asyncio
async def test_a_profile_sets_its_own_runtime_class(make_spawner):
    profiles = [
        *PROFILES,
        {"display_name": "A100 (kata)", "slug": "kata", "requires": ["gpu"],
         "gpu": {"count": 1, "type": A100},
         "kubespawner_override": {"gpu_runtime_class_name": "kata-nvidia"}},
    ]
    spawner = make_spawner(ALICE, gpu_runtime_class_name="nvidia", profile_list=profiles)
    pod = await manifest(spawner, {"profile": "kata"})
    assert pod["spec"]["runtimeClassName"] == "kata-nvidia"
    await spawner.stop()
    pod = await manifest(spawner, {"profile": "gpu-a100"})  # the override does not stick
    assert pod["spec"]["runtimeClassName"] == "nvidia"


def test_mig_profiles_state_the_mixed_strategy():
    bad = [{"display_name": "slice", "gpu": {"mig": "nvidia.com/gpu"}}]
    with pytest.raises(ProfileConfigError) as info:
        parse_profiles(bad)
    assert "'mixed' MIG strategy" in str(info.value) and "'single'" in str(info.value)
