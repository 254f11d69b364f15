"""The one GPU record: what each server holds, indexed in the hub's QuotaBook (pure)."""

from __future__ import annotations

from jupyterhub_imagine.spawner.quota import Holding, QuotaBook, QuotaLimits

GPUS = ["GPU-0", "GPU-1", "GPU-2"]


def test_devices_held_by_other_servers_are_not_free():
    book = QuotaBook()
    assert book.try_acquire("alice/", "alice", ["team"], 1, QuotaLimits(), ("GPU-1",)) is None
    book.restore("bob/x", Holding("bob", frozenset(), 1, ("GPU-0",)))  # from spawner state
    assert book.free_devices(GPUS) == ["GPU-2"]
    assert book.free_devices(GPUS, but="alice/") == ["GPU-1", "GPU-2"]  # its own restart
    assert book.devices_held() == {"GPU-0", "GPU-1"}
    book.release("alice/")
    assert book.free_devices(GPUS) == ["GPU-1", "GPU-2"]


def test_a_refused_acquire_records_nothing():
    book = QuotaBook()
    limits = QuotaLimits(per_user=1)
    assert book.try_acquire("alice/", "alice", [], 1, limits, ("GPU-0",)) is None
    reason = book.try_acquire("alice/b", "alice", [], 1, limits, ("GPU-1",))
    assert reason and "at most 1 GPU" in reason
    assert book.devices_held() == {"GPU-0"} and "alice/b" not in book.holdings
    # kube holdings carry no device names: they count toward quotas only
    assert book.try_acquire("bob/", "bob", [], 2, QuotaLimits()) is None
    assert book.devices_held() == {"GPU-0"} and book.used_by("bob") == 2
