"""The assessment report: aggregates computed in SQL (GROUP BY), one query per period.

A session that spans a period boundary counts in each period for the part that falls in it;
its GPU-seconds (active/idle/unknown) and energy are split in the same proportion. GPU-hours
are counted from allocation (what funders count); the part the culler did not classify as
active or idle is reported as unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from .periods import Period, day_of
from .schema import sessions

HOUR = 3600.0
DAY = 86400.0

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReportSettings:
    """The figures a report needs beyond the records themselves."""

    budget_gpu_hours: float = 0.0
    budget_start: float | None = None
    grid_g_co2_per_kwh: float = 0.0
    rate_window_days: float = 30.0
    now: float = 0.0


@dataclass
class UsageRow:
    period: str
    community: str | None
    sessions: int = 0
    users: int = 0
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    gpu_hours_active: float = 0.0
    gpu_hours_idle: float = 0.0
    gpu_hours_unknown: float = 0.0
    energy_kwh: float = 0.0
    energy_kwh_idle: float = 0.0
    co2_kg: float = 0.0
    energy_sessions: int = 0
    countries: dict[str, int] = field(default_factory=dict)
    cumulative_gpu_hours: float | None = None

    @property
    def idle_share(self) -> float:
        measured = self.gpu_hours_active + self.gpu_hours_idle
        return self.gpu_hours_idle / measured if measured else 0.0

    @property
    def country_count(self) -> int:
        return sum(1 for c in self.countries if c != "unknown")


@dataclass
class Budget:
    gpu_hours: float
    used: float
    rate_per_day: float
    run_out: dt.date | None
    exceeded: bool


@dataclass
class Report:
    first: dt.date
    last: dt.date
    by: str
    by_community: bool
    rows: list[UsageRow]
    total: list[UsageRow]
    budget: Budget | None
    settings: ReportSettings


def _overlap_columns(p_start: float, p_end: float, now: float) -> dict[str, Any]:
    c = sessions.c
    stop = sa.func.coalesce(c.stop_ts, now)
    ov_end = sa.case((stop < p_end, stop), else_=p_end)
    ov_start = sa.case((c.start_ts > p_start, c.start_ts), else_=p_start)
    overlap = ov_end - ov_start
    duration = stop - c.start_ts
    frac = sa.case((duration > 0, overlap / duration), else_=1.0)
    where = sa.and_(c.start_ts < p_end, stop > p_start)
    return {"overlap": overlap, "frac": frac, "where": where}


def _usage_query(p_start: float, p_end: float, now: float, by_community: bool) -> sa.Select:
    c = sessions.c
    o = _overlap_columns(p_start, p_end, now)
    overlap, frac = o["overlap"], o["frac"]
    measured = c.gpu_active_s + c.gpu_idle_s + c.gpu_unknown_s
    idle_part = sa.case((measured > 0, c.gpu_idle_s / measured), else_=0.0)
    cols = [
        sa.func.sum(sa.case((c.start_ts >= p_start, 1), else_=0)).label("sessions"),
        sa.func.count(sa.distinct(c.user_key)).label("users"),
        sa.func.sum(overlap * c.cpus).label("cpu_s"),
        sa.func.sum(overlap * c.gpus).label("gpu_s"),
        sa.func.sum(c.gpu_active_s * frac).label("active_s"),
        sa.func.sum(c.gpu_idle_s * frac).label("idle_s"),
        sa.func.sum(c.energy_j * frac).label("energy_j"),
        sa.func.sum(c.energy_j * frac * idle_part).label("energy_idle_j"),
        sa.func.count(c.energy_j).label("energy_sessions"),
    ]
    query = sa.select(*cols).where(o["where"])
    if by_community:
        query = query.add_columns(c.community).group_by(c.community)
    return query


def _country_query(p_start: float, p_end: float, now: float, by_community: bool) -> sa.Select:
    c = sessions.c
    o = _overlap_columns(p_start, p_end, now)
    keys = [c.community, c.country] if by_community else [c.country]
    return (
        sa.select(*keys, sa.func.count(sa.distinct(c.user_key)).label("users"))
        .where(o["where"])
        .group_by(*keys)
    )


def _gpu_seconds(conn: sa.Connection, p_start: float, p_end: float, now: float) -> float:
    if p_start >= p_end:
        return 0.0
    o = _overlap_columns(p_start, p_end, now)
    query = sa.select(sa.func.sum(o["overlap"] * sessions.c.gpus)).where(o["where"])
    return float(conn.execute(query).scalar() or 0.0)


def _rows_for(
    conn: sa.Connection, period: Period, settings: ReportSettings, by_community: bool
) -> list[UsageRow]:
    now = settings.now
    rows: dict[str | None, UsageRow] = {}
    for r in conn.execute(_usage_query(period.start, period.end, now, by_community)):
        m = r._mapping
        if not m["users"]:
            continue
        community = m["community"] if by_community else None
        unknown = max(float(m["gpu_s"] or 0) - float(m["active_s"] or 0)
                      - float(m["idle_s"] or 0), 0.0)
        energy_kwh = float(m["energy_j"] or 0) / 3.6e6
        rows[community] = UsageRow(
            period=period.label,
            community=community,
            sessions=int(m["sessions"] or 0),
            users=int(m["users"]),
            cpu_hours=float(m["cpu_s"] or 0) / HOUR,
            gpu_hours=float(m["gpu_s"] or 0) / HOUR,
            gpu_hours_active=float(m["active_s"] or 0) / HOUR,
            gpu_hours_idle=float(m["idle_s"] or 0) / HOUR,
            gpu_hours_unknown=unknown / HOUR,
            energy_kwh=energy_kwh,
            energy_kwh_idle=float(m["energy_idle_j"] or 0) / 3.6e6,
            co2_kg=energy_kwh * settings.grid_g_co2_per_kwh / 1000.0,
            energy_sessions=int(m["energy_sessions"] or 0),
        )
    for r in conn.execute(_country_query(period.start, period.end, now, by_community)):
        m = r._mapping
        row = rows.get(m["community"] if by_community else None)
        if row is not None:
            row.countries[m["country"]] = int(m["users"])
    for row in rows.values():
        row.countries = dict(sorted(row.countries.items(), key=lambda kv: (-kv[1], kv[0])))
    return sorted(rows.values(), key=lambda r: r.community or "")


def _budget(
    conn: sa.Connection, settings: ReportSettings, upto: float, before_first: float
) -> Budget:
    start = settings.budget_start if settings.budget_start is not None else before_first
    used = _gpu_seconds(conn, start, upto, settings.now) / HOUR
    window = settings.rate_window_days * DAY
    recent = _gpu_seconds(conn, max(upto - window, start), upto, settings.now) / HOUR
    days = max((upto - max(upto - window, start)) / DAY, 1e-9)
    rate = recent / days
    remaining = settings.budget_gpu_hours - used
    run_out = None
    if remaining > 0 and rate > 0 and remaining / rate < 36500:  # else: not this century
        run_out = day_of(upto + remaining / rate * DAY)
    return Budget(settings.budget_gpu_hours, used, rate, run_out, remaining <= 0)


def build_report(
    engine: sa.Engine,
    periods: list[Period],
    by: str,
    by_community: bool,
    settings: ReportSettings,
    progress: Progress | None = None,
) -> Report:
    """Run the report's queries: per period, the whole range, and the budget."""
    steps = len(periods) + 2 + (1 if settings.budget_gpu_hours else 0)
    done = 0
    whole = Period("total", periods[0].start, periods[-1].end)
    out: list[UsageRow] = []
    with engine.connect() as conn:
        start = settings.budget_start if settings.budget_start is not None else whole.start
        cumulative = _gpu_seconds(conn, start, whole.start, settings.now) / HOUR
        for p in periods:
            rows = _rows_for(conn, p, settings, by_community)
            cumulative += _gpu_seconds(conn, max(start, p.start), p.end, settings.now) / HOUR
            for row in rows:
                row.cumulative_gpu_hours = cumulative
            out.extend(rows)
            done += 1
            if progress:
                progress(done, steps)
        total = _rows_for(conn, whole, settings, by_community)
        done += 1
        if progress:
            progress(done, steps)
        budget = None
        if settings.budget_gpu_hours:
            upto = min(whole.end, settings.now) if settings.now else whole.end
            budget = _budget(conn, settings, upto, whole.start)
            done += 1
            if progress:
                progress(done, steps)
    if progress:
        progress(steps, steps)
    return Report(day_of(whole.start), day_of(whole.end - 1), by, by_community, out, total,
                  budget, settings)
