"""A culler database written before policy v2 gains v2's state columns at startup."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from jupyterhub_imagine.culler.decide import ServerState
from jupyterhub_imagine.culler.store import CullerStore, ServerKey


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
