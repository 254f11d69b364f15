"""Live GPU availability: the pure ClusterState, and the shared list+watch against a FAKE API.

The FAKE (tests/spawner/fake_kube.py) serves list + watch of nodes and pods on loopback with
resourceVersions, streamed watch events, timeouts and 410 Gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api

from jupyterhub_imagine.spawner.availability import ClusterWatcher
from jupyterhub_imagine.spawner.cluster_state import ClusterState
from jupyterhub_imagine.spawner.compat import SpawnRefused
from jupyterhub_imagine.spawner.kube import QUOTA_BOOK
from jupyterhub_imagine.spawner.profiles import GPURequest

from .conftest import A100, MIG, StubUser
from .fake_kube import node, pod

pytestmark = pytest.mark.fake

ANY_A100 = GPURequest(1, A100)
SLICE = GPURequest(1, mig=MIG)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


# ----- the pure state ---------------------------------------------------------------------------
def test_free_is_allocatable_minus_requests_of_unfinished_pods():
    s = ClusterState()
    s.replace_nodes([node("a", A100, 4), node("b", A100, 4), node("m", A100, mig={MIG: 7}),
                     node("down", A100, 4, ready=False), node("cordoned", A100, 4,
                                                            unschedulable=True)])
    s.replace_pods([pod("p1", "a", {"nvidia.com/gpu": 3}), pod("p2", "b", {"nvidia.com/gpu": 4},
                                                              phase="Succeeded"),
                    pod("p3", "m", {MIG: 2}), pod("cpu", "a")])
    assert s.capacity(ANY_A100).free == 5 and s.capacity(ANY_A100).total == 8
    assert s.capacity(ANY_A100).most_on_one_node == 4
    assert (s.capacity(SLICE).free, s.capacity(SLICE).total) == (5, 7)
    assert s.capacity(GPURequest(1, "NVIDIA-H100")).total == 0


def test_refusals_name_the_reason():
    s = ClusterState()
    s.replace_nodes([node("a", A100, 4), node("b", A100, 4)])
    s.replace_pods([pod("p1", "a", {"nvidia.com/gpu": 3}), pod("p2", "b", {"nvidia.com/gpu": 3})])
    assert s.refusal(GPURequest(2, A100), "A100 GPUs").startswith(
        "2 A100 GPUs are free but no node has 2 of them free together")
    assert s.refusal(GPURequest(1, A100), "A100 GPUs") is None
    assert "No node in the cluster offers" in s.refusal(GPURequest(1, "H100"), "H100 GPUs")
    s.apply_pod("ADDED", pod("p3", "a", {"nvidia.com/gpu": 1}))
    s.apply_pod("ADDED", pod("p4", "b", {"nvidia.com/gpu": 1}))
    assert "All A100 GPUs are in use (0 of 8 free, 1 needed)" in s.refusal(ANY_A100, "A100 GPUs")


def test_pending_pods_and_reservations_count_against_their_type():
    s = ClusterState()
    s.replace_nodes([node("a", A100, 2), node("h", "H100", 2)])
    s.apply_pod("ADDED", pod("pending", "", {"nvidia.com/gpu": 1}, phase="Pending", product=A100))
    assert s.capacity(ANY_A100).free == 1
    assert s.capacity(GPURequest(1, "H100")).free == 2
    assert s.capacity(GPURequest(1)).free == 3  # an untyped profile may use either
    s.reserve("jhub/jupyter-x", GPURequest(1, A100), now=0)
    assert s.capacity(ANY_A100).free == 0
    s.apply_pod("ADDED", pod("jupyter-x", "", {"nvidia.com/gpu": 1}, namespace="jhub",
                             phase="Pending", product=A100))
    assert s.reservations == {} and s.capacity(ANY_A100).free == 0  # counted once, as a pod
    s.apply_pod("MODIFIED", pod("jupyter-x", "a", {"nvidia.com/gpu": 1}, namespace="jhub"))
    s.apply_pod("DELETED", pod("pending", "", {"nvidia.com/gpu": 1}))
    assert s.capacity(ANY_A100).free == 1
    s.reserve("jhub/jupyter-y", GPURequest(1, A100), now=0)
    s.expire(now=10_000)
    assert s.capacity(ANY_A100).free == 1


# ----- the watcher against the FAKE API server ----------------------------------------------------
@pytest_asyncio.fixture
async def core_api(fake_api):
    config = Configuration(host=fake_api.url)
    async with ApiClient(config) as client:
        yield CoreV1Api(client)


@pytest.mark.asyncio
async def test_watch_follows_nodes_joining_and_leaving_and_pods_finishing(fake_api, core_api):
    await fake_api.put("pods", pod("train", "a100-1", {"nvidia.com/gpu": 3}))
    watcher = ClusterWatcher(core_api, watch_seconds=30)
    try:
        assert await watcher.wait_synced(5)
        cap = lambda: watcher.state.capacity(ANY_A100)  # noqa: E731
        assert (cap().free, cap().total) == (5, 8)
        await fake_api.put("nodes", node("a100-3", A100, gpus=4))  # joins
        await until(lambda: cap().total == 12 and cap().free == 9)
        await fake_api.put("pods", pod("train", "a100-1", {"nvidia.com/gpu": 3}, phase="Succeeded"))
        await until(lambda: cap().free == 12)
        await fake_api.put("pods", pod("big", "a100-2", {"nvidia.com/gpu": 4}))
        await until(lambda: cap().free == 8 and cap().most_on_one_node == 4)
        await fake_api.delete("nodes", "", "a100-2")  # leaves, with its pod
        await until(lambda: cap().total == 8 and cap().free == 8)
        await fake_api.put("nodes", node("a100-1", A100, gpus=4, unschedulable=True))
        await until(lambda: cap().total == 4)
        await fake_api.put("pods", pod("slice", "mig-1", {MIG: 1}))
        await until(lambda: watcher.state.capacity(SLICE).free == 6)
        await fake_api.delete("pods", "research", "slice")
        await until(lambda: watcher.state.capacity(SLICE).free == 7)
        assert fake_api.requests["list nodes"] == 1 and fake_api.requests["list pods"] == 1
    finally:
        await watcher.stop()


@pytest.mark.asyncio
async def test_watch_resumes_from_its_resource_version_and_relists_after_410(fake_api, core_api):
    watcher = ClusterWatcher(core_api, watch_seconds=1)  # the FAKE ends each watch after 1 s
    try:
        assert await watcher.wait_synced(5)
        await until(lambda: fake_api.requests["watch nodes"] >= 2, timeout=5)
        assert fake_api.requests["list nodes"] == 1  # a watch timeout resumes, no new list
        await fake_api.put("nodes", node("a100-9", A100, gpus=8), record=False)
        await fake_api.compact()  # the watch drops; its resourceVersion is now too old
        await until(lambda: fake_api.requests["list nodes"] >= 2, timeout=5)
        await until(lambda: watcher.state.capacity(ANY_A100).total == 16)
    finally:
        await watcher.stop()


@pytest.mark.asyncio
async def test_form_shows_free_gpus_and_disables_full_profiles(fake_api, make_spawner):
    await fake_api.put("pods", pod("a", "a100-1", {"nvidia.com/gpu": 3}))
    await fake_api.put("pods", pod("b", "a100-2", {"nvidia.com/gpu": 3}))
    alice = StubUser("alice", caps=("gpu",))
    form = await make_spawner(alice).get_options_form()
    assert f"2 of 8 {A100} GPUs free" in form
    assert "7 of 7 1g.10gb MIG slices free" in form
    assert 'value="gpu2-a100" disabled' in form
    assert "no node has 2 of them free together" in form
    assert 'value="gpu-a100">' in form  # enabled
    second = make_spawner(StubUser("dave", caps=("gpu",)))
    await second.get_options_form()
    assert fake_api.requests["list nodes"] == 1 and fake_api.requests["list pods"] == 1


@pytest.mark.asyncio
async def test_a_spawn_that_cannot_be_placed_fails_at_once(fake_api, make_spawner):
    await fake_api.put("pods", pod("a", "a100-1", {"nvidia.com/gpu": 4}))
    await fake_api.put("pods", pod("b", "a100-2", {"nvidia.com/gpu": 3}))
    spawner = make_spawner(StubUser("alice", caps=("gpu",)))
    spawner.user_options = {"profile": "gpu2-a100"}
    started = time.monotonic()
    with pytest.raises(SpawnRefused) as info:
        await spawner.load_user_options()
    assert time.monotonic() - started < 5
    assert info.value.status_code == 409
    assert "'2 × A100': All" in info.value.log_message or "'2 × A100'" in str(info.value)
    assert QUOTA_BOOK.used_by("alice") == 0  # a refused spawn holds nothing
    spawner.user_options = {"profile": "gpu-a100"}
    await spawner.load_user_options()  # the last free A100 is reserved for this spawn...
    other = make_spawner(StubUser("erin", caps=("gpu",)))
    other.user_options = {"profile": "gpu-a100"}
    with pytest.raises(SpawnRefused, match="0 of 8 free"):
        await other.load_user_options()  # ...so a concurrent spawn is refused, not left pending
