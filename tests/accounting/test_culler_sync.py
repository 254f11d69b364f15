"""The culler's per-server GPU-seconds reach the session records: by sync (all rows, or only
recent ones) and by push; rows of servers the accounting never saw change nothing."""

from __future__ import annotations

import pytest

from jupyterhub_imagine.accounting import identity
from jupyterhub_imagine.accounting.culler_sync import push, sync_from_culler
from jupyterhub_imagine.accounting.store import AccountingStore, GPUUsage, SessionStart
from jupyterhub_imagine.culler.store import CullerStore, ServerKey, ServerRecord

KEY = b"sync-test-key-0123456789abcdef"
STARTED = "2026-03-01T10:00:00.000000Z"


@pytest.fixture
def stores(tmp_path):
    acct = AccountingStore(f"sqlite:///{tmp_path}/a.sqlite")
    for user in ("alice", "bob"):
        acct.open_session(SessionStart(
            user_key=identity.pseudonym(KEY, user),
            server_key=identity.server_pseudonym(KEY, user, ""),
            community="c", country="DE", profile="gpu", start_ts=1000.0, gpus=1.0,
            hub_started=STARTED))
    culler_url = f"sqlite:///{tmp_path}/c.sqlite"
    culler = CullerStore(culler_url)
    rows = [ServerRecord(key=ServerKey(u, "", STARTED), holds_gpu=True, gpus=1,
                         active_s=a, idle_s=i, unknown_s=0.0)
            for u, a, i in (("alice", 30.0, 70.0), ("bob", 50.0, 5.0), ("carol", 1.0, 1.0))]
    culler.save(rows, known=set())
    culler.mark_ended([ServerKey("alice", "", STARTED)], 5000.0, "no longer running")
    culler.record_events([(4900.0, ServerKey("alice", "", STARTED), "stop", "idle 2 h")])
    culler.close()
    yield acct, culler_url
    acct.close()


def test_sync_copies_usage_and_the_cullers_stop(stores):
    acct, culler_url = stores
    acct.close_session(identity.pseudonym(KEY, "alice"),
                       identity.server_pseudonym(KEY, "alice", ""), 5001.0, "user")
    assert sync_from_culler(acct, culler_url, KEY) == 2  # carol has no session here
    alice, bob = acct.rows()
    assert (alice["gpu_active_s"], alice["gpu_idle_s"]) == (30.0, 70.0)
    assert (alice["stop_reason"], alice["stop_detail"]) == ("culler", "culler: idle 2 h")
    assert (bob["gpu_active_s"], bob["stop_reason"]) == (50.0, None)  # still running


def test_sync_since_skips_servers_that_ended_before(stores):
    acct, culler_url = stores
    assert sync_from_culler(acct, culler_url, KEY, since=6000.0) == 1  # bob: still running
    alice, bob = acct.rows()
    assert alice["gpu_active_s"] == 0.0 and bob["gpu_active_s"] == 50.0


def test_push_is_what_the_culler_would_call(stores):
    acct, _ = stores
    n = push(acct, KEY, "bob", "", STARTED, GPUUsage(9.0, 1.0, 0.0, 2, energy_j=123.0))
    assert n == 1
    bob = acct.rows()[1]
    assert (bob["gpu_active_s"], bob["postponements"], bob["energy_j"]) == (9.0, 2, 123.0)
