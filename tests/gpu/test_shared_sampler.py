"""The shared GPU sampler: one read for many clients, bounded waits, driver errors as answers.

NVML is a FAKE (no GPU here): plain functions standing in for a read, and the FAKE module of
tests/gpu/faulty_nvml.py whose driver hangs or fails on demand.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from jupyterhub_imagine.gpu.nvml import GPUSampler, NVMLReader
from jupyterhub_imagine.gpu.shared import SharedGPUSampler
from tests.gpu import faulty_nvml
from tests.support import fake_nvml

pytestmark = pytest.mark.fake


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def report(n: int) -> dict:
    return {"available": True, "message": "", "gpus": [{"index": n}]}


async def test_twenty_clients_share_one_read_and_then_the_cache() -> None:
    gate = threading.Event()
    count = []

    def read() -> dict:
        gate.wait(10)
        count.append(1)
        return report(len(count))

    clock = Clock()
    shared = SharedGPUSampler(read, cache_seconds=1.0, timeout=10.0, clock=clock)
    waiting = [asyncio.ensure_future(shared.sample()) for _ in range(20)]
    await asyncio.sleep(0)  # every client is now waiting on the same read
    gate.set()
    answers = await asyncio.gather(*waiting)
    assert shared.reads == 1 and len(count) == 1
    assert all(a["gpus"] == [{"index": 1}] for a in answers)
    assert (await shared.sample())["gpus"] == [{"index": 1}]  # fresh: from memory
    assert shared.reads == 1
    clock.now += 1.5
    assert (await shared.sample())["gpus"] == [{"index": 2}]
    assert shared.reads == 2


async def test_a_hung_read_answers_unavailable_within_the_timeout_then_at_once() -> None:
    gate = threading.Event()
    clock = Clock()

    def read() -> dict:
        gate.wait(30)
        return report(7)

    shared = SharedGPUSampler(read, cache_seconds=1.0, timeout=0.2, clock=clock)
    answers = await asyncio.wait_for(
        asyncio.gather(*(shared.sample() for _ in range(20))), timeout=5
    )
    assert {a["reason"] for a in answers} == {"timeout"}
    assert all(a["available"] is False and "did not answer" in a["message"] for a in answers)
    # later callers do not wait on the hung read again, nor start a second one
    clock.now += 1.0
    later = await asyncio.wait_for(shared.sample(), timeout=0.1)
    assert later["reason"] == "timeout" and shared.reads == 1
    # once the driver answers, its report is served and reads resume
    gate.set()
    while shared.reads == 1 and (await shared.sample()).get("reason") == "timeout":
        await asyncio.sleep(0.01)
    assert (await shared.sample())["gpus"] == [{"index": 7}]


async def test_a_raising_read_is_an_answer_not_an_error() -> None:
    def read() -> dict:
        raise RuntimeError("Unknown Error")

    shared = SharedGPUSampler(read, cache_seconds=0.0, timeout=5.0)
    answer = await shared.sample()
    assert answer["available"] is False
    assert answer["reason"] == "Unknown Error"
    assert "Unknown Error" in answer["message"]


@pytest.fixture
def faulty(tmp_path, monkeypatch):
    path = tmp_path / "nvml.json"
    fake_nvml.write_state(str(path), [fake_nvml.a100("GPU-0", 40)])
    monkeypatch.setenv("IMAGINE_FAKE_NVML", str(path))
    faulty_nvml.FAULT["mode"] = ""
    faulty_nvml.RELEASE.clear()
    yield faulty_nvml
    faulty_nvml.FAULT["mode"] = ""
    faulty_nvml.RELEASE.set()


@pytest.mark.parametrize("error", ["GPU is lost", "Unknown Error", "Insufficient Permissions"])
def test_driver_errors_after_initialisation_are_reported_and_recovered_from(faulty, error):
    sampler = GPUSampler(NVMLReader(faulty), None)
    assert sampler.read()["available"] is True  # NVML initialised
    faulty.FAULT["mode"] = error
    broken = sampler.read()
    assert broken["available"] is False
    assert broken["reason"] == error
    assert error in broken["message"]
    faulty.FAULT["mode"] = ""
    assert sampler.read()["gpus"][0]["utilization"] == 40.0
