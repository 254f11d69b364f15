"""Culler state and GPU accounting that survive a restart (SQLite, or any SQLAlchemy URL)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .decide import ServerState, Usage

if TYPE_CHECKING:
    from .hub import HubServer

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
    # consecutive listings without this instance: ended at MISSING_LIMIT unless the hub says so
    sa.Column("missing", sa.Integer, nullable=False, default=0, server_default="0"),
)

#: listings a server may be absent from (offset pagination while servers stop) before it is
#: taken as ended without the hub confirming it
MISSING_LIMIT = 2

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

    @classmethod
    def of(cls, server: HubServer) -> ServerKey:
        """The key of a server instance as the hub lists it."""
        return cls(server.user, server.name, server.started)

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
    missing: int = 0

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
            "missing": self.missing,
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
            missing=m["missing"],
        )


Event = tuple[float, ServerKey, str, str]  # (time, server, action, reason)


def _key_params(key: ServerKey) -> dict[str, str]:
    return {"k_user": key.user, "k_server": key.server, "k_started": key.started}


def _by_key(table: sa.Table) -> Any:
    c = table.c
    return (
        (c.user == sa.bindparam("k_user"))
        & (c.server == sa.bindparam("k_server"))
        & (c.started == sa.bindparam("k_started"))
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
    """Small synchronous store: a cycle's saves, ends and events in one write transaction
    (none when nothing changed); the classic loop's stops, when there are any, in another.

    Rows are upserted, so a server instance seen again after it was taken as ended (a missed
    listing) is revived with its timers and accounting instead of inserted twice.
    """

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

    def load_ended(self, keys: Iterable[ServerKey]) -> dict[ServerKey, ServerRecord]:
        """Instances among ``keys`` that were taken as ended (listed again: to be revived)."""
        wanted = set(keys)
        if not wanted:
            return {}
        c = servers_table.c
        users = sorted({k.user for k in wanted})
        query = sa.select(servers_table).where(c.ended_at.is_not(None), c.user.in_(users))
        with self.engine.connect() as conn:
            records = [ServerRecord.from_row(r) for r in conn.execute(query)]
        return {r.key: r for r in records if r.key in wanted}

    def commit_cycle(
        self,
        records: Iterable[ServerRecord],
        *,
        ended: Iterable[ServerKey] = (),
        now: float = 0.0,
        reason: str = "no longer running",
        events: Iterable[Event] = (),
    ) -> None:
        """One transaction: upsert changed records, mark ``ended`` ones, append ``events``
        (no transaction at all when there is nothing to write)."""
        rows = []
        for rec in records:
            row = rec.row()
            if row != self._loaded.get(rec.key):
                rows.append(row)
            self._loaded[rec.key] = dict(row)
        ended_rows = [_key_params(k) | {"ended_at": now, "end_reason": reason} for k in ended]
        for k in ended:
            self._loaded.pop(k, None)
        event_rows = [
            {
                "ts": ts,
                "user": k.user,
                "server": k.server,
                "started": k.started,
                "action": action,
                "reason": why,
            }
            for ts, k, action, why in events
        ]
        if not (rows or ended_rows or event_rows):
            return
        with self.engine.begin() as conn:
            self._upsert(conn, rows)
            if ended_rows:
                stmt = (
                    servers_table.update()
                    .where(_by_key(servers_table))
                    .values(
                        ended_at=sa.bindparam("ended_at"), end_reason=sa.bindparam("end_reason")
                    )
                )
                conn.execute(stmt, ended_rows)
            if event_rows:
                conn.execute(events_table.insert(), event_rows)

    def _upsert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        revived = [r | {"ended_at": None, "end_reason": None} for r in rows]
        keys = ("user", "server", "started")
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
            stmt = insert(servers_table)
            update = {c: stmt.excluded[c] for c in revived[0] if c not in keys}
            conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), revived)
            return
        for row in revived:  # other databases: update, else insert
            params = {f"k_{k}": row[k] for k in keys}
            values = {k: v for k, v in row.items() if k not in keys}
            done = conn.execute(
                servers_table.update().where(_by_key(servers_table)).values(values), params
            )
            if not done.rowcount:
                conn.execute(servers_table.insert(), [row])

    # -- single writes (tests, tools) ---------------------------------------------------------

    def save(self, records: Iterable[ServerRecord], known: set[ServerKey] | None = None) -> None:
        """Upsert records (``known`` is accepted for older callers and ignored)."""
        self.commit_cycle(records)

    def mark_ended(self, keys: Iterable[ServerKey], now: float, reason: str) -> None:
        """Record that these instances are no longer running (stopped by us or anyone)."""
        self.commit_cycle((), ended=list(keys), now=now, reason=reason)

    def record_events(self, events: Iterable[Event]) -> None:
        """Append (time, server, action, reason) rows: warnings, postponements, stops."""
        self.commit_cycle((), events=list(events))

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
