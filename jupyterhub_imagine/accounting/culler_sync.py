"""Copy the idle-GPU culler's per-server GPU-seconds into the session records.

The culler keeps, per server instance (user, server, hub start stamp), GPU-seconds active,
idle and unknown, the postponements used, and a "stop" event with its reason when it stopped
the server. Its rows name users; here they are turned into pseudonyms in memory and matched
to sessions by (pseudonym, server pseudonym, hub start stamp). Running it again is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from ..culler.store import events_table, servers_table
from . import identity
from .store import AccountingStore, GPUUsage

CHUNK = 5000


def _culler_rows(engine: sa.Engine, since: float | None) -> Iterator[sa.Row]:
    s, e = servers_table.c, events_table.c
    stops = (
        sa.select(e.user, e.server, e.started, sa.func.max(e.reason).label("reason"))
        .where(e.action == "stop")
        .group_by(e.user, e.server, e.started)
        .subquery()
    )
    query = sa.select(
        s.user, s.server, s.started, s.active_s, s.idle_s, s.unknown_s,
        s.postponements_used, stops.c.reason,
    ).outerjoin(
        stops,
        sa.and_(stops.c.user == s.user, stops.c.server == s.server,
                stops.c.started == s.started),
    )
    if since is not None:
        query = query.where(sa.or_(s.ended_at.is_(None), s.ended_at >= since))
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(query)
        yield from result


def sync_from_culler(store: AccountingStore, culler_url: str, key: bytes,
                     since: float | None = None) -> int:
    """Apply the culler's rows (all, or those running or ended since ``since``) to their
    sessions; returns how many sessions were updated."""
    engine = sa.create_engine(culler_url, future=True)
    inspector = sa.inspect(engine)
    if not inspector.has_table(servers_table.name):
        engine.dispose()
        return 0
    has_events = inspector.has_table(events_table.name)
    changed, batch = 0, []
    try:
        rows = _culler_rows(engine, since) if has_events else iter(())
        for r in rows:
            usage = GPUUsage(r.active_s or 0.0, r.idle_s or 0.0, r.unknown_s or 0.0,
                             int(r.postponements_used or 0))
            culled = f"culler: {r.reason}" if r.reason else None
            batch.append((identity.pseudonym(key, r.user),
                          identity.server_pseudonym(key, r.user, r.server),
                          r.started, usage, culled))
            if len(batch) >= CHUNK:
                changed += store.apply_gpu_usage(batch)
                batch = []
        if batch:
            changed += store.apply_gpu_usage(batch)
    finally:
        engine.dispose()
    return changed


def push(store: AccountingStore, key: bytes, user: str, server: str, started: str,
         usage: GPUUsage, stop_reason: str | None = None) -> int:
    """What the culler calls to push one server's figures directly (e.g. after each cycle,
    and with ``stop_reason`` when it stops the server); same effect as a sync."""
    culled = f"culler: {stop_reason}" if stop_reason else None
    item = (identity.pseudonym(key, user), identity.server_pseudonym(key, user, server),
            started, usage, culled)
    return store.apply_gpu_usage([item])
