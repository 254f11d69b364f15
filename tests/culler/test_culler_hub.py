"""IdleGPUCuller against a real JupyterHub with real servers (local processes) running the real
server extension, and an injected clock; GPU activity from the servers' own endpoint, over a
FAKE NVML (no GPU here)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyterhub_imagine.culler.app import IdleGPUCuller
from jupyterhub_imagine.culler.decide import Action
from jupyterhub_imagine.culler.hub import HubClient, HubError, RetryingClient
from tests.support import fake_nvml

from .hub_fixture import ADMIN_TOKEN, CULLER_TOKEN, RealHub, start_hub, stop_hub

pytestmark = pytest.mark.timeout(240)

USERS = ["alice", "bob", "carol", "dave", "erin"]
# FAKE NVML devices each server sees (no GPU here)
IDLE = [fake_nvml.a100("GPU-idle", utilization=0.0)]
BUSY = [fake_nvml.a100("GPU-busy", utilization=90.0)]
NO_GPU: list[dict[str, Any]] = []
MIG_UNKNOWN = [fake_nvml.mig_a100("GPU-mig", ["1g.5gb"])]  # no GPM: activity unknown


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealHub]:
    real = start_hub(tmp_path_factory.mktemp("hub"), USERS)
    try:
        for user, gpu in zip(USERS, [IDLE, BUSY, IDLE, NO_GPU, MIG_UNKNOWN], strict=True):
            real.set_gpu(user, gpu)
            real.start_server(user)
        real.wait_ready(USERS)
        yield real
    finally:
        stop_hub(real)


class FakeClock:
    """The culler's clock, published to the servers too (their presence timestamps)."""

    def __init__(self, start: float, publish: Path) -> None:
        self.publish = publish
        self.now = start

    @property
    def now(self) -> float:
        return self._now

    @now.setter
    def now(self, value: float) -> None:
        self._now = value
        self.publish.write_text(repr(value))

    def __call__(self) -> float:
        return self._now


def make_culler(hub: RealHub, clock: FakeClock, db: Path) -> IdleGPUCuller:
    return IdleGPUCuller(
        api_url=hub.api_url,
        api_token=CULLER_TOKEN,
        servers_url=hub.public_url,
        activity_source="server",
        cull_every=60,
        gpu_idle_timeout=120,
        warning_lead=120,
        postpone_by=240,
        max_postponements=1,
        presence_timeout=90,
        db_url=f"sqlite:///{db}",
        timeout=3600,
        hub_backoff=0.01,
        clock=clock,
    )


def running(hub: RealHub) -> dict[str, bool]:
    return {u: hub.running(u) for u in USERS}


@pytest.mark.fake
async def test_gpu_culling_cycle_by_cycle(hub: RealHub, tmp_path: Path) -> None:
    import time

    clock = FakeClock(time.time(), hub.gpu_dir / "clock")
    db = tmp_path / "culler.sqlite"
    culler = make_culler(hub, clock, db)
    alice_token = hub.user_token("alice")
    carol_token = hub.user_token("carol")
    seen: list[dict[str, Action]] = []

    async def cycle() -> Any:
        clock.now += 60
        # alice's abandoned tab keeps polling: activity, not presence
        if hub.running("alice"):
            hub.server_api("alice", alice_token, "GET", "api/status")
        report = await culler.cycle()
        assert report.errors == []
        seen.append(report.actions())
        return report

    report = await cycle()  # c1
    assert report.gpu_servers == 4  # dave has none; erin has GPUs of unknown activity
    assert set(report.decisions) == {"alice/", "bob/", "carol/", "erin/"}
    report = await cycle()  # c2: alice and carol warned
    assert report.actions()["alice/"] == Action.WARN
    assert report.actions()["carol/"] == Action.WARN
    warning = hub.server_api("carol", carol_token, "GET", "jupyterhub-imagine/api/warning")
    assert warning["warning"]["postponements_left"] == 1
    # carol is at her desk and answers "keep"
    hub.server_api(
        "carol", carol_token, "POST", "jupyterhub-imagine/api/presence", json={"kind": "click"}
    )
    hub.server_api("carol", carol_token, "POST", "jupyterhub-imagine/api/warning/keep", json={})
    report = await cycle()  # c3
    assert report.actions()["carol/"] == Action.POSTPONE
    await cycle()  # c4: alice stopped (nobody present), carol postponed
    assert seen[-1]["alice/"] == Action.STOP

    # the culler restarts: timers and postponements continue from the store
    culler = make_culler(hub, clock, db)
    await cycle()  # c5
    state = running(hub)
    assert not state["alice"]
    assert state["bob"] and state["carol"] and state["dave"] and state["erin"]
    assert seen[-1]["carol/"] == Action.NONE
    # keep at c2 + postpone_by 240 s = c6; carol's last presence then 240 s old
    report = await cycle()  # c6
    assert seen[-1]["carol/"] == Action.STOP, report.decisions["carol/"].reason
    await cycle()
    state = running(hub)
    assert not state["carol"]
    assert state["bob"] and state["dave"] and state["erin"], "busy / CPU / unknown stay"
    assert all(s.get("bob/", Action.NONE) == Action.NONE for s in seen)
    assert all(s.get("erin/", Action.NONE) == Action.NONE for s in seen)

    await check_classic_culling_and_accounting(hub, culler, cycle)


async def check_classic_culling_and_accounting(
    hub: RealHub, culler: IdleGPUCuller, cycle: Any
) -> None:
    # the classic loop (jupyterhub-idle-culler) culls the idle CPU server, never a GPU server
    culler.timeout = 0
    await cycle()
    state = running(hub)
    assert not state["dave"], "CPU-only server culled by the classic loop"
    assert state["bob"] and state["erin"]

    events = culler.store.events()
    assert [(e["user"], e["action"]) for e in events if e["user"] == "carol"] == [
        ("carol", "warn"),
        ("carol", "postpone"),
        ("carol", "stop"),
    ]
    usage = {k.user: v for k, v in culler.store.usage().items()}
    assert usage["bob"][0] > 300 and usage["bob"][1] == 0
    assert usage["erin"][2] > 300 and usage["erin"][0] == usage["erin"][1] == 0


class GlitchyListing(HubClient):
    """The real hub client, except that the listings named in ``drop`` leave out a user (as
    offset pagination does while servers stop) and the hub cannot be asked about it (FAKE
    glitch over the real hub)."""

    def __init__(self, real: HubClient, user: str) -> None:
        super().__init__(real.api_url, real.client, page_size=real.page_size)
        self.user = user
        self.drop = False

    async def ready_server_pages(self) -> Any:
        async for page in super().ready_server_pages():
            yield [s for s in page if not (self.drop and s.user == self.user)]

    async def is_running(self, key: Any) -> bool:
        if self.drop and key.user == self.user:
            raise HubError("FAKE: the hub did not answer", 503)
        return await super().is_running(key)


async def restart_idle(hub: RealHub, user: str) -> None:
    hub.set_gpu(user, IDLE)
    if not hub.running(user):
        hub.start_server(user)
        await asyncio.to_thread(hub.wait_ready, [user])


@pytest.mark.fake
async def test_a_server_missing_from_listings_does_not_wedge_the_store(
    hub: RealHub, tmp_path: Path
) -> None:
    await restart_idle(hub, "alice")
    clock = FakeClock(time.time(), hub.gpu_dir / "clock")
    culler = make_culler(hub, clock, tmp_path / "culler.sqlite")
    culler.gpu_idle_timeout = 3600  # no warnings here: only the store's bookkeeping
    culler.setup()
    culler.hub = glitch = GlitchyListing(culler.hub, "alice")

    async def cycle(drop: bool) -> Any:
        glitch.drop = drop
        clock.now += 60
        report = await culler.cycle()
        assert report.errors == [], report.errors
        return report

    await cycle(False)
    await cycle(False)
    await cycle(True)  # missed once, and the hub could not be asked: still running
    assert any(k.user == "alice" for k in culler.store.load_running())
    await cycle(False)
    await cycle(True)
    await cycle(True)  # missed twice in a row: taken as ended
    assert not any(k.user == "alice" for k in culler.store.load_running())
    report = await cycle(False)  # listed again with the same start: revived, not inserted
    assert "alice/" in report.decisions
    report = await cycle(False)  # and later cycles save, as before
    assert "alice/" in report.decisions
    (idle,) = [u[1] for k, u in culler.store.usage().items() if k.user == "alice"]
    # seen idle on 5 intervals of 60 s (the glitches' time is counted when seen again)
    assert idle >= 4 * 60
    assert culler.metrics.cycle_errors == 0


@pytest.mark.fake
async def test_an_undelivered_warning_is_neither_counted_nor_double_counts_time(
    hub: RealHub, tmp_path: Path
) -> None:
    """The chart's old bug: servers accepting another culler name answer 403 to every warning."""
    await restart_idle(hub, "alice")
    clock = FakeClock(time.time(), hub.gpu_dir / "clock")
    culler = make_culler(hub, clock, tmp_path / "culler.sqlite")
    culler.setup()
    # what the servers see: a hub service that is not the culler they were told about
    culler.servers.client = RetryingClient(ADMIN_TOKEN, retries=0)
    reports = []
    for _ in range(6):
        clock.now += 60
        reports.append(await culler.cycle())
    assert all(r.actions().get("alice/") == Action.WARN for r in reports[2:]), reports
    assert any("not-culler" in e or "403" in e for e in reports[-1].errors)
    assert [e for e in culler.store.events() if e["user"] == "alice"] == []
    assert culler.metrics.events["warnings"] == 0
    (record,) = [r for k, r in culler.store.load_running().items() if k.user == "alice"]
    assert not record.state.warned
    # six intervals of 60 s (the first from the server's start), each counted once: a
    # rolled-back state used to count them again at every cycle
    total = record.idle_s + record.active_s + record.unknown_s
    assert 6 * 60 <= total <= 6 * 60 + 30, total
