"""The assessment report: aggregates computed in SQL (GROUP BY), one query per period.

A session that spans a period boundary counts in each period for the part that falls in it;
its GPU-seconds (active/idle/unknown) and energy are split in the same proportion. GPU-hours
are counted from allocation (what funders count); the part the culler did not classify as
active or idle is reported as unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class Scan:
    """``now`` ends running sessions; ``longest`` (the longest session, in seconds) bounds
    how early a session overlapping a period may start, so each query reads an index range."""

    now: float
    longest: float


def longest_session(conn: sa.Connection, now: float) -> float:
    c = sessions.c
    query = sa.select(sa.func.max(sa.func.coalesce(c.stop_ts, now) - c.start_ts))
    return float(conn.execute(query).scalar() or 0.0)


def _sum_columns(overlap: Any, frac: Any, started: Any) -> list[Any]:
    c = sessions.c
    measured = c.gpu_active_s + c.gpu_idle_s + c.gpu_unknown_s
    idle_part = c.gpu_idle_s / sa.func.nullif(measured, 0.0)
    return [
        started.label("sessions"),
        sa.func.sum(overlap * c.cpus).label("cpu_s"),
        sa.func.sum(overlap * c.gpus).label("gpu_s"),
        sa.func.sum(c.gpu_active_s * frac).label("active_s"),
        sa.func.sum(c.gpu_idle_s * frac).label("idle_s"),
        sa.func.sum(c.energy_j * frac).label("energy_j"),
        sa.func.sum(c.energy_j * frac * idle_part).label("energy_idle_j"),
        sa.func.count(c.energy_j).label("energy_sessions"),
    ]


def _overlaps(p_start: float, p_end: float, scan: Scan) -> Any:
    """Sessions overlapping [p_start, p_end); the start bound lets the index do the work."""
    c = sessions.c
    return sa.and_(c.start_ts < p_end, c.start_ts >= p_start - scan.longest - 1,
                   sa.func.coalesce(c.stop_ts, scan.now) > p_start)


def _sum_queries(p_start: float, p_end: float, scan: Scan) -> list[sa.Select]:
    """Sums over the sessions that lie inside the period (plain columns: fast), and over the
    few that cross its edges or still run (their share, computed with CASE)."""
    c = sessions.c
    inside = sa.and_(c.start_ts >= p_start, c.start_ts < p_end, c.stop_ts.is_not(None),
                     c.stop_ts <= p_end)
    plain = _sum_columns(c.stop_ts - c.start_ts, sa.literal(1.0), sa.func.count())
    stop = sa.func.coalesce(c.stop_ts, scan.now)
    ov_end = sa.case((stop < p_end, stop), else_=p_end)
    ov_start = sa.case((c.start_ts > p_start, c.start_ts), else_=p_start)
    overlap = ov_end - ov_start
    duration = stop - c.start_ts
    frac = sa.case((duration > 0, overlap / duration), else_=1.0)
    started = sa.func.sum(sa.case((c.start_ts >= p_start, 1), else_=0))
    edge = sa.and_(_overlaps(p_start, p_end, scan),
                   sa.or_(c.start_ts < p_start, c.stop_ts.is_(None), c.stop_ts > p_end))
    return [sa.select(*plain).where(inside),
            sa.select(*_sum_columns(overlap, frac, started)).where(edge)]


def _grouped(query: sa.Select, keys: list[Any]) -> sa.Select:
    return query.add_columns(*keys).group_by(*keys) if keys else query


Sums = dict[str | None, dict[str, float]]


def _add(into: Sums, more: Sums) -> None:
    for group, values in more.items():
        target = into.setdefault(group, {})
        for name, value in values.items():
            if name != "users":  # distinct users do not add up
                target[name] = target.get(name, 0.0) + value


def _sums(conn: sa.Connection, p_start: float, p_end: float, scan: Scan,
          by_community: bool, known: Sums | None = None) -> Sums:
    """The period's sums (or ``known`` ones, e.g. its sub-periods' added up) and its
    distinct users."""
    keys = [sessions.c.community] if by_community else []
    out: Sums = {k: dict(v) for k, v in (known or {}).items()}
    for query in [] if known is not None else _sum_queries(p_start, p_end, scan):
        for r in conn.execute(_grouped(query, keys)):
            m = dict(r._mapping)
            group = out.setdefault(m.pop("community", None), {})
            for name, value in m.items():
                group[name] = group.get(name, 0.0) + float(value or 0.0)
    people = _grouped(
        sa.select(sa.func.count(sa.distinct(sessions.c.user_key)).label("users"))
        .where(_overlaps(p_start, p_end, scan)), keys)
    for r in conn.execute(people):
        users = r._mapping
        out.setdefault(users["community"] if by_community else None, {})["users"] = users["users"]
    return out


def _country_query(p_start: float, p_end: float, scan: Scan, by_community: bool) -> sa.Select:
    c = sessions.c
    keys = [c.community, c.country] if by_community else [c.country]
    return (
        sa.select(*keys, sa.func.count(sa.distinct(c.user_key)).label("users"))
        .where(_overlaps(p_start, p_end, scan))
        .group_by(*keys)
    )


def _gpu_seconds(conn: sa.Connection, p_start: float, p_end: float, scan: Scan) -> float:
    if p_start >= p_end:
        return 0.0
    total = 0.0
    for query in _sum_queries(p_start, p_end, scan):
        total += float(conn.execute(query).mappings().one()["gpu_s"] or 0.0)
    return total


def _rows_for(
    conn: sa.Connection, period: Period, settings: ReportSettings, by_community: bool,
    scan: Scan, known: Sums | None = None,
) -> tuple[list[UsageRow], Sums]:
    rows: dict[str | None, UsageRow] = {}
    sums = _sums(conn, period.start, period.end, scan, by_community, known)
    for community, m in sums.items():
        if not m.get("users"):
            continue
        unknown = max(m["gpu_s"] - m["active_s"] - m["idle_s"], 0.0)
        energy_kwh = m["energy_j"] / 3.6e6
        rows[community] = UsageRow(
            period=period.label,
            community=community,
            sessions=int(m["sessions"]),
            users=int(m["users"]),
            cpu_hours=m["cpu_s"] / HOUR,
            gpu_hours=m["gpu_s"] / HOUR,
            gpu_hours_active=m["active_s"] / HOUR,
            gpu_hours_idle=m["idle_s"] / HOUR,
            gpu_hours_unknown=unknown / HOUR,
            energy_kwh=energy_kwh,
            energy_kwh_idle=m["energy_idle_j"] / 3.6e6,
            co2_kg=energy_kwh * settings.grid_g_co2_per_kwh / 1000.0,
            energy_sessions=int(m["energy_sessions"]),
        )
    for r in conn.execute(_country_query(period.start, period.end, scan, by_community)):
        country = r._mapping
        row = rows.get(country["community"] if by_community else None)
        if row is not None:
            row.countries[country["country"]] = int(country["users"])
    for row in rows.values():
        row.countries = dict(sorted(row.countries.items(), key=lambda kv: (-kv[1], kv[0])))
    return sorted(rows.values(), key=lambda r: r.community or ""), sums


def _budget(
    conn: sa.Connection, settings: ReportSettings, upto: float, before_first: float, scan: Scan
) -> Budget:
    start = settings.budget_start if settings.budget_start is not None else before_first
    used = _gpu_seconds(conn, start, upto, scan) / HOUR
    window = settings.rate_window_days * DAY
    recent = _gpu_seconds(conn, max(upto - window, start), upto, scan) / HOUR
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
        scan = Scan(settings.now, longest_session(conn, settings.now))
        start = settings.budget_start if settings.budget_start is not None else whole.start
        cumulative = _gpu_seconds(conn, start, whole.start, scan) / HOUR
        added: Sums = {}  # the periods' sums: the total's, without scanning the range again
        for p in periods:
            rows, sums = _rows_for(conn, p, settings, by_community, scan)
            _add(added, sums)
            if start <= p.start:  # the rows already hold the period's GPU-hours
                cumulative += sum(r.gpu_hours for r in rows)
            else:
                cumulative += _gpu_seconds(conn, max(start, p.start), p.end, scan) / HOUR
            for row in rows:
                row.cumulative_gpu_hours = cumulative
            out.extend(rows)
            done += 1
            if progress:
                progress(done, steps)
        if len(periods) == 1:  # the total is that one period
            total = [replace(r, period="total", cumulative_gpu_hours=None) for r in out]
        else:
            total, _ = _rows_for(conn, whole, settings, by_community, scan, known=added)
        done += 1
        if progress:
            progress(done, steps)
        budget = None
        if settings.budget_gpu_hours:
            upto = min(whole.end, settings.now) if settings.now else whole.end
            budget = _budget(conn, settings, upto, whole.start, scan)
            done += 1
            if progress:
                progress(done, steps)
    if progress:
        progress(steps, steps)
    return Report(day_of(whole.start), day_of(whole.end - 1), by, by_community, out, total,
                  budget, settings)
