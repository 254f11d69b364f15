"""A culler database written before policy v2 gains v2's state columns at startup; a cycle's
writes are one transaction, and none when nothing changed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from jupyterhub_imagine.culler.decide import ServerState
from jupyterhub_imagine.culler.store import CullerStore, ServerKey, ServerRecord


def test_a_store_written_by_v1_gains_the_v2_columns(tmp_path: Any) -> None:
    """An existing database from before policy v2 loads, and v2's state survives a restart."""
    url = f"sqlite:///{tmp_path}/v1.sqlite"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the v1 table, with one running server
        conn.execute(sa.text(V1_TABLE))
        conn.execute(sa.text(V1_ROW))
    engine.dispose()
    store = CullerStore(url)
    key = ServerKey("alice", "", "2026-01-01T00:00:00Z")
    [rec] = store.load_running().values()
    assert rec.state == ServerState(idle_seconds=900.0, last_observed=10.0)
    rec.state = replace(rec.state, held_since=20.0, unknown_run=120.0)
    store.save([rec], known={key})
    store.close()
    again = CullerStore(url).load_running()[key].state
    assert (again.held_since, again.unknown_run) == (20.0, 120.0)


V1_TABLE = """CREATE TABLE imagine_culler_servers (
    user VARCHAR(255) NOT NULL, server VARCHAR(255) NOT NULL, started VARCHAR(64) NOT NULL,
    holds_gpu BOOLEAN, gpus INTEGER NOT NULL, idle_seconds FLOAT NOT NULL, last_observed FLOAT,
    warned_at FLOAT, stop_at FLOAT, postponements_used INTEGER NOT NULL, last_keep_seen FLOAT,
    active_s FLOAT NOT NULL, idle_s FLOAT NOT NULL, unknown_s FLOAT NOT NULL, ended_at FLOAT,
    end_reason TEXT, PRIMARY KEY (user, server, started))"""
V1_ROW = """INSERT INTO imagine_culler_servers VALUES ('alice', '', '2026-01-01T00:00:00Z', 1, 1,
    900.0, 10.0, NULL, NULL, 0, NULL, 0.0, 0.0, 0.0, NULL, NULL)"""


def test_a_cycle_writes_in_one_transaction_and_not_at_all_when_nothing_changed(
    tmp_path: Any,
) -> None:
    store = CullerStore(f"sqlite:///{tmp_path}/tx.sqlite")
    begins: list[int] = []
    sa.event.listen(store.engine, "begin", lambda conn: begins.append(1))
    alice = ServerRecord(ServerKey("alice", "", "t0"), holds_gpu=True, gpus=1)
    bob = ServerRecord(ServerKey("bob", "", "t0"), holds_gpu=True, gpus=1)
    store.commit_cycle([alice, bob], now=1.0)
    assert len(begins) == 1

    begins.clear()
    alice.state = replace(alice.state, idle_seconds=60.0, last_observed=60.0)
    events = [(60.0, alice.key, "warn", "GPU idle")]
    store.commit_cycle([alice], ended=[bob.key], now=60.0, events=events)
    assert len(begins) == 1  # saves, ends and events together
    assert [e["action"] for e in store.events()] == ["warn"]

    begins.clear()
    store.commit_cycle([alice], now=120.0)  # unchanged record, nothing ended, no events
    store.record_events([])
    assert begins == []
    assert set(store.load_running()) == {alice.key}
    store.close()
