"""Culler state and GPU accounting that survive a restart (SQLite, or any SQLAlchemy URL)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from .decide import ServerState, Usage

metadata = sa.MetaData()

servers_table = sa.Table(
    "imagine_culler_servers",
    metadata,
    sa.Column("user", sa.Unicode(255), primary_key=True),
    sa.Column("server", sa.Unicode(255), primary_key=True),
    # a server started again is a new instance with fresh timers and its own accounting
    sa.Column("started", sa.Unicode(64), primary_key=True),
    sa.Column("holds_gpu", sa.Boolean, nullable=True),
    sa.Column("gpus", sa.Integer, nullable=False, default=0),
    sa.Column("idle_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("last_observed", sa.Float, nullable=True),
    sa.Column("warned_at", sa.Float, nullable=True),
    sa.Column("stop_at", sa.Float, nullable=True),
    sa.Column("postponements_used", sa.Integer, nullable=False, default=0),
    sa.Column("last_keep_seen", sa.Float, nullable=True),
    # policy v2 (added to older databases at startup, see add_missing_columns)
    sa.Column("held_since", sa.Float, nullable=True),
    sa.Column("unknown_run", sa.Float, nullable=False, server_default="0"),
    sa.Column("active_s", sa.Float, nullable=False, default=0.0),
    sa.Column("idle_s", sa.Float, nullable=False, default=0.0),
    sa.Column("unknown_s", sa.Float, nullable=False, default=0.0),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Column("end_reason", sa.UnicodeText, nullable=True),
)

events_table = sa.Table(
    "imagine_culler_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("user", sa.Unicode(255), nullable=False),
    sa.Column("server", sa.Unicode(255), nullable=False),
    sa.Column("started", sa.Unicode(64), nullable=False),
    sa.Column("action", sa.Unicode(32), nullable=False),
    sa.Column("reason", sa.UnicodeText, nullable=False),
)

_STATE_FIELDS = tuple(ServerState.__dataclass_fields__)


@dataclass(frozen=True, order=True)
class ServerKey:
    """One server instance: the same named server started again is a new key."""

    user: str
    server: str
    started: str

    @property
    def log_name(self) -> str:
        return f"{self.user}/{self.server}"


@dataclass
class ServerRecord:
    """Persisted state of one server instance."""

    key: ServerKey
    holds_gpu: bool | None = None
    gpus: int = 0
    state: ServerState = field(default_factory=ServerState)
    active_s: float = 0.0
    idle_s: float = 0.0
    unknown_s: float = 0.0

    def add_usage(self, usage: Usage) -> None:
        """Add server-seconds scaled to GPU-seconds (at least one GPU for a GPU server)."""
        n = max(self.gpus, 1)
        self.active_s += usage.active * n
        self.idle_s += usage.idle * n
        self.unknown_s += usage.unknown * n

    def row(self) -> dict[str, Any]:
        return {
            "user": self.key.user,
            "server": self.key.server,
            "started": self.key.started,
            "holds_gpu": self.holds_gpu,
            "gpus": self.gpus,
            **{f: getattr(self.state, f) for f in _STATE_FIELDS},
            "active_s": self.active_s,
            "idle_s": self.idle_s,
            "unknown_s": self.unknown_s,
        }

    @classmethod
    def from_row(cls, row: Any) -> ServerRecord:
        m = row._mapping
        return cls(
            key=ServerKey(m["user"], m["server"], m["started"]),
            holds_gpu=m["holds_gpu"],
            gpus=m["gpus"],
            state=ServerState(**{f: m[f] for f in _STATE_FIELDS}),
            active_s=m["active_s"],
            idle_s=m["idle_s"],
            unknown_s=m["unknown_s"],
        )


def add_missing_columns(engine: sa.Engine, table: sa.Table) -> None:
    """Add the columns a newer version defines to a table an older version created."""
    have = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
    with engine.begin() as conn:
        for col in table.columns:
            if col.name in have:
                continue
            kind = col.type.compile(engine.dialect)
            ddl = f"ALTER TABLE {table.name} ADD COLUMN {col.name} {kind}"
            if col.server_default is not None:
                ddl += f" NOT NULL DEFAULT {col.server_default.arg}"  # type: ignore[attr-defined]
            conn.execute(sa.text(ddl))


class CullerStore:
    """Small synchronous store; one transaction per cycle."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        metadata.create_all(self.engine)
        add_missing_columns(self.engine, servers_table)
        # rows as last loaded, so save() writes only the records that changed
        self._loaded: dict[ServerKey, dict[str, Any]] = {}

    def load_running(self) -> dict[ServerKey, ServerRecord]:
        """All server instances not yet marked ended."""
        query = sa.select(servers_table).where(servers_table.c.ended_at.is_(None))
        with self.engine.connect() as conn:
            records = {r.key: r for r in map(ServerRecord.from_row, conn.execute(query))}
        self._loaded = {k: r.row() for k, r in records.items()}
        return records

    def save(self, records: Iterable[ServerRecord], known: set[ServerKey]) -> None:
        """Insert new instances and update the ones in ``known`` (as returned by load)."""
        new: list[dict[str, Any]] = []
        old: list[dict[str, Any]] = []
        for rec in records:
            row = rec.row()
            if rec.key not in known:
                new.append(row)
            elif row != self._loaded.get(rec.key):
                old.append(row)
            self._loaded[rec.key] = dict(row)
        c = servers_table.c
        update = (
            servers_table.update()
            .where(c.user == sa.bindparam("k_user"))
            .where(c.server == sa.bindparam("k_server"))
            .where(c.started == sa.bindparam("k_started"))
        )
        with self.engine.begin() as conn:
            if new:
                conn.execute(servers_table.insert(), new)
            if old:
                rows = [
                    {f"k_{k}": r.pop(k) for k in ("user", "server", "started")} | r for r in old
                ]
                conn.execute(update, rows)

    def mark_ended(self, keys: Iterable[ServerKey], now: float, reason: str) -> None:
        """Record that these instances are no longer running (stopped by us or anyone)."""
        c = servers_table.c
        stmt = (
            servers_table.update()
            .where(c.user == sa.bindparam("k_user"))
            .where(c.server == sa.bindparam("k_server"))
            .where(c.started == sa.bindparam("k_started"))
            .values(ended_at=now, end_reason=reason)
        )
        rows = [{"k_user": k.user, "k_server": k.server, "k_started": k.started} for k in keys]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(stmt, rows)

    def record_events(self, events: Iterable[tuple[float, ServerKey, str, str]]) -> None:
        """Append (time, server, action, reason) rows: warnings, postponements, stops."""
        rows = [
            {
                "ts": ts,
                "user": k.user,
                "server": k.server,
                "started": k.started,
                "action": action,
                "reason": reason,
            }
            for ts, k, action, reason in events
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(events_table.insert(), rows)

    def events(self, key: ServerKey | None = None) -> list[dict[str, Any]]:
        query = sa.select(events_table).order_by(events_table.c.id)
        if key is not None:
            c = events_table.c
            query = query.where(
                c.user == key.user, c.server == key.server, c.started == key.started
            )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def usage(self) -> dict[ServerKey, tuple[float, float, float]]:
        """GPU-seconds (active, idle, unknown) per server instance, ended ones included."""
        c = servers_table.c
        query = sa.select(c.user, c.server, c.started, c.active_s, c.idle_s, c.unknown_s).where(
            c.holds_gpu.is_(True)
        )
        with self.engine.connect() as conn:
            return {
                ServerKey(r.user, r.server, r.started): (r.active_s, r.idle_s, r.unknown_s)
                for r in conn.execute(query)
            }

    def close(self) -> None:
        self.engine.dispose()
