"""Quotas, spawn lifecycle and progress of ImagineKubeSpawner (FAKE Kubernetes API, STUB user)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kubernetes_validate
import pytest

from jupyterhub_imagine.spawner.compat import SpawnRefused
from jupyterhub_imagine.spawner.kube import QUOTA_BOOK
from jupyterhub_imagine.spawner.quota import QuotaBook, QuotaLimits

from .conftest import StubUser
from .fake_kube import event

pytestmark = pytest.mark.fake  # the Kubernetes API (fake_kube.py)


# ----- the pure book ----------------------------------------------------------------------------
def test_group_member_caps_take_the_most_generous_group():
    limits = QuotaLimits(per_user=1, per_group_member={"students": 1, "staff": 4, "ops": 0})
    assert limits.user_cap(["students"]) == 1
    assert limits.user_cap(["students", "staff"]) == 4
    assert limits.user_cap(["ops", "staff"]) == 0  # 0: no limit
    assert limits.user_cap(["other"]) == 1


def test_group_totals_hold_across_members():
    book, limits = QuotaBook(), QuotaLimits(per_group_total={"vo": 3})
    assert book.try_acquire("a/", "a", ["vo"], 2, limits) is None
    assert book.try_acquire("b/", "b", ["vo"], 1, limits) is None
    reason = book.try_acquire("c/", "c", ["vo", "x"], 1, limits)
    assert reason and "Members of vo may use at most 3 GPU(s) together and 3 are in use" in reason
    assert book.try_acquire("d/", "d", ["x"], 1, limits) is None  # not a member: not counted
    book.release("a/")
    assert book.try_acquire("c/", "c", ["vo"], 1, limits) is None
    assert book.try_acquire("b/", "b", ["vo"], 2, limits) is None  # re-spawn replaces its own


# ----- the spawner ------------------------------------------------------------------------------
async def _spawn_options(spawner, options: dict[str, Any]) -> int:
    spawner.user_options = options
    try:
        await spawner.load_user_options()
    except SpawnRefused as exc:
        return exc.status_code
    return 200


@pytest.mark.fake
@pytest.mark.asyncio
async def test_twenty_concurrent_spawns_never_exceed_the_user_quota(make_spawner):
    alice = StubUser("alice", caps=("gpu",))
    spawners = [make_spawner(alice, f"s{i}", gpu_quota_per_user=2) for i in range(20)]
    codes = await asyncio.gather(*(_spawn_options(s, {"profile": "gpu-a100"}) for s in spawners))
    assert sorted(codes) == [200, 200] + [403] * 18
    assert QUOTA_BOOK.used_by("alice") == 2
    await spawners[codes.index(200)].stop()
    assert QUOTA_BOOK.used_by("alice") == 1
    late = make_spawner(alice, "late", gpu_quota_per_user=2)
    assert await _spawn_options(late, {"profile": "mig-1g"}) == 200  # a slice counts as one
    assert await _spawn_options(make_spawner(alice, "x", gpu_quota_per_user=2),
                                {"profile": "gpu-a100"}) == 403
    assert await _spawn_options(make_spawner(alice, "y", gpu_quota_per_user=2),
                                {"profile": "cpu"}) == 200  # CPU servers are never limited


@pytest.mark.fake
@pytest.mark.asyncio
async def test_group_total_holds_for_concurrent_spawns_of_many_users(make_spawner):
    users = [StubUser(f"u{i}", groups=("vo.example.org",), caps=("gpu",)) for i in range(8)]
    spawners = [make_spawner(u, gpu_quota_per_group_total={"vo.example.org": 3}) for u in users]
    codes = await asyncio.gather(*(_spawn_options(s, {"profile": "gpu-a100"}) for s in spawners))
    assert codes.count(200) == 3 and codes.count(403) == 5
    assert sum(h.gpus for h in QUOTA_BOOK.holdings.values()) == 3


@pytest.mark.fake
@pytest.mark.asyncio
async def test_a_group_cap_holds_after_profile_overrides_and_a_hub_restart(make_spawner):
    profiles = [
        {"display_name": "CPU", "slug": "cpu"},
        {"display_name": "Greedy", "slug": "greedy", "gpu": {"count": 1},
         "kubespawner_override": {"gpu_quota_per_user": 0,
                                  "extra_resource_limits": {"nvidia.com/gpu": "4"}}},
    ]
    config = {"profile_list": profiles, "group_overrides": {"01-students": {
        "groups": ["students"], "spawner_override": {"gpu_quota_per_user": 1}}}}
    student = StubUser("sam", groups=("students",))

    async def spawn(server: str) -> tuple[int, Any]:
        spawner = make_spawner(student, server, **config)
        await spawner.apply_group_overrides()  # JupyterHub does this before start()
        return await _spawn_options(spawner, {"profile": "greedy"}), spawner

    code, first = await spawn("one")
    assert code == 200 and first.extra_resource_limits == {"nvidia.com/gpu": "1"}
    assert (await spawn("two"))[0] == 403  # the profile's own override did not lift the cap
    state = first.get_state()
    assert state["imagine_gpus"] == 1
    QUOTA_BOOK.holdings.clear()  # the hub restarts: the book is rebuilt from spawner state
    make_spawner(student, "one", **config).load_state(state)
    assert QUOTA_BOOK.used_by("sam") == 1
    assert (await spawn("three"))[0] == 403


@pytest.mark.fake
@pytest.mark.asyncio
async def test_full_start_posts_a_valid_pod_reports_progress_and_stops(fake_api, make_spawner):
    fake_api.auto_run_pods = False
    spawner = make_spawner(StubUser("alice", caps=("gpu",)), start_timeout=20)
    spawner.user_options = {"profile": "gpu-a100"}
    start = spawner.start()

    messages: list[str] = []

    async def collect() -> None:
        async for e in spawner.progress():
            messages.append(e["message"])

    progress = asyncio.ensure_future(collect())
    deadline = time.monotonic() + 30  # a loaded 2-core machine can take seconds to get here
    while not fake_api.created_pods and time.monotonic() < deadline:
        if start.done():
            start.result()  # a failed start: its exception, not a missing pod
        await asyncio.sleep(0.02)
    (posted,) = fake_api.created_pods
    kubernetes_validate.validate(posted, "1.33.0", strict=True)
    name = posted["metadata"]["name"]
    for n, (reason, msg) in enumerate([
        ("FailedScheduling", "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."),
        ("TriggeredScaleUp", "pod triggered scale-up"),
        ("Scheduled", "Successfully assigned jhub/jupyter-alice to a100-1"),
        ("Pulling", 'Pulling image "quay.io/jupyter/pytorch-notebook:cuda12"'),
        ("Started", "Started container notebook"),
    ]):
        await fake_api.put("events", event(name, reason, msg, "jhub", n))
    # progress() reads the spawner's events once more when the start ends: have them all first
    deadline = time.monotonic() + 30
    while len(spawner.events) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(spawner.events) == 5
    await fake_api.run_pod("jhub", name)
    url = await asyncio.wait_for(start, 20)
    assert url.startswith("http://127.0.0.1:")
    await asyncio.wait_for(progress, 10)
    assert messages[0].startswith("Requesting 1 × NVIDIA-A100-SXM4-40GB GPU (")
    wanted = ["Waiting for a node with a free GPU: 0/4 nodes are available",
              "Adding a node to the cluster", "Scheduled: Successfully assigned",
              "Pulling the image", "Starting JupyterLab"]
    for text in wanted:
        assert any(m.startswith(text) for m in messages), (text, messages)
    assert QUOTA_BOOK.used_by("alice") == 1
    await spawner.stop()
    assert QUOTA_BOOK.used_by("alice") == 0 and not fake_api.objects["pods"]


@pytest.mark.fake
@pytest.mark.asyncio
async def test_a_gpu_session_past_its_deadline_is_stopped_by_poll(fake_api, make_spawner):
    spawner = make_spawner(StubUser("alice", caps=("gpu",)), gpu_max_session_seconds=3600)
    spawner.user_options = {"profile": "gpu-a100"}
    await asyncio.wait_for(spawner.start(), 20)
    assert await spawner.poll() is None
    spawner._gpu_deadline = time.time() - 1  # an hour later
    assert await spawner.poll() == 0
    assert not fake_api.objects["pods"] and QUOTA_BOOK.used_by("alice") == 0


@pytest.mark.asyncio
async def test_a_start_that_fails_releases_its_gpus(fake_api, make_spawner):
    """The pod never runs: start() fails after the quota was taken, and gives it back."""
    fake_api.auto_run_pods = False
    spawner = make_spawner(StubUser("alice", caps=("gpu",)), start_timeout=1)
    spawner.user_options = {"profile": "gpu-a100"}
    start = spawner.start()
    with pytest.raises(Exception, match="(?i)timeout|did not start"):
        await asyncio.wait_for(start, 30)
    assert fake_api.created_pods  # it got as far as creating the pod
    assert QUOTA_BOOK.used_by("alice") == 0 and not spawner.get_state().get("imagine_gpus")
