"""Writing session records: open at spawn, close at stop, GPU-seconds from the culler."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from .schema import sessions, upgrade


@dataclass(frozen=True)
class SessionStart:
    """What is known when a server is requested (nothing that names the person)."""

    user_key: str
    server_key: str
    community: str
    country: str
    profile: str
    start_ts: float
    cpus: float = 0.0
    mem_bytes: int = 0
    gpus: float = 0.0
    gpu_type: str = ""
    mig: str = ""
    hub_started: str | None = None
    session_uid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class GPUUsage:
    """GPU-seconds of one session as the culler measured them (already times the GPU count)."""

    active_s: float
    idle_s: float
    unknown_s: float
    postponements: int = 0
    energy_j: float | None = None


def engine_for(url: str) -> sa.Engine:
    """An engine for ``url`` with the accounting tables migrated to the newest version."""
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    engine = sa.create_engine(url, **kwargs)
    upgrade(engine)
    return engine


class AccountingStore:
    """Small synchronous store: a statement or two per spawn or stop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    def open_session(self, start: SessionStart) -> str:
        """Insert a new session; a still-open session of the same server is closed first (a
        hub that died without running its stop hook)."""
        row = asdict(start) | {
            "gpu_active_s": 0.0,
            "gpu_idle_s": 0.0,
            "gpu_unknown_s": 0.0,
            "postponements": 0,
        }
        with self.engine.begin() as conn:
            conn.execute(
                self._open_of(start.user_key, start.server_key).values(
                    stop_ts=start.start_ts, stop_reason="unknown",
                    stop_detail="a new session began before this one was seen to stop",
                )
            )
            conn.execute(sessions.insert(), [row])
        return start.session_uid

    @staticmethod
    def _open_of(user_key: str, server_key: str) -> sa.Update:
        c = sessions.c
        return sessions.update().where(
            c.user_key == user_key, c.server_key == server_key, c.stop_ts.is_(None)
        )

    def set_started(self, user_key: str, server_key: str, hub_started: str, **extra: Any) -> None:
        """Fill in what is known only once the server runs (the hub's start stamp, resources)."""
        values = {"hub_started": hub_started, **extra}
        with self.engine.begin() as conn:
            conn.execute(self._open_of(user_key, server_key).values(**values))

    def close_session(
        self, user_key: str, server_key: str, stop_ts: float, reason: str, detail: str = "",
        energy_j: float | None = None,
    ) -> int:
        """Mark the open session of this server stopped; returns how many rows changed."""
        values: dict[str, Any] = {"stop_ts": stop_ts, "stop_reason": reason,
                                  "stop_detail": detail or None}
        if energy_j is not None:
            values["energy_j"] = energy_j
        with self.engine.begin() as conn:
            result = conn.execute(self._open_of(user_key, server_key).values(**values))
        return int(result.rowcount or 0)

    def apply_gpu_usage(
        self, items: Iterable[tuple[str, str, str, GPUUsage, str | None]]
    ) -> int:
        """Set GPU-seconds for sessions named by (user_key, server_key, hub_started); with a
        culler stop reason, a session closed as "user"/"unknown" becomes "culler"."""
        c = sessions.c
        changed = 0
        with self.engine.begin() as conn:
            for user_key, server_key, started, usage, culled in items:
                where = (c.user_key == user_key, c.server_key == server_key,
                         c.hub_started == started)
                values: dict[str, Any] = {
                    "gpu_active_s": usage.active_s,
                    "gpu_idle_s": usage.idle_s,
                    "gpu_unknown_s": usage.unknown_s,
                    "postponements": usage.postponements,
                }
                if usage.energy_j is not None:
                    values["energy_j"] = usage.energy_j
                result = conn.execute(sessions.update().where(*where).values(**values))
                changed += int(result.rowcount or 0)
                if culled:
                    conn.execute(
                        sessions.update()
                        .where(*where, c.stop_ts.is_not(None), c.stop_reason != "admin")
                        .values(stop_reason="culler", stop_detail=culled)
                    )
        return changed

    def rows(self, where: Any = None) -> list[dict[str, Any]]:
        """Session rows as dicts, oldest first (for tests and small exports)."""
        query = sa.select(sessions).order_by(sessions.c.start_ts, sessions.c.id)
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def insert_many(self, rows: list[dict[str, Any]]) -> None:
        """Bulk insert of complete rows (the simulator and imports)."""
        with self.engine.begin() as conn:
            conn.execute(sessions.insert(), rows)

    def close(self) -> None:
        self.engine.dispose()
