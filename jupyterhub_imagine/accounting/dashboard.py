"""What the admin page and the Prometheus metrics show, from one set of report queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from . import charts
from .periods import Period, day_of, periods
from .report import Report, ReportSettings, UsageRow, build_report


@dataclass
class Dashboard:
    weekly: Report
    communities: list[UsageRow]
    total: UsageRow | None
    settings: ReportSettings


def load(engine: sa.Engine, settings: ReportSettings, weeks: int) -> Dashboard:
    """Weekly usage for the last ``weeks`` weeks (to today), and the same span per community."""
    today = day_of(settings.now)
    first = today - dt.timedelta(weeks=weeks) + dt.timedelta(days=1)
    if settings.budget_start is not None:
        first = max(first, day_of(settings.budget_start))
    spans = periods(first, today, "week")
    weekly = build_report(engine, spans, "week", False, settings)
    whole = [Period("window", spans[0].start, spans[-1].end)]
    by_community = build_report(engine, whole, "window", True, settings)
    total = weekly.total[0] if weekly.total else None
    return Dashboard(weekly, by_community.rows, total, settings)


def _projection(d: Dashboard, last: float) -> list[float]:
    b = d.weekly.budget
    if b is None or not b.rate_per_day or b.exceeded:
        return []
    out: list[float] = []
    value = last
    while value < b.gpu_hours and len(out) < 12:
        value += b.rate_per_day * 7
        out.append(value)
    return out


def charts_html(d: Dashboard) -> list[tuple[str, str]]:
    """(heading, svg) for each chart on the page."""
    rows = d.weekly.rows
    labels = [r.period for r in rows]
    cumulative = [r.cumulative_gpu_hours or 0.0 for r in rows]
    budget = d.settings.budget_gpu_hours
    out = [
        ("Cumulative GPU-hours against the budget",
         charts.cumulative_chart(labels, cumulative, budget,
                                 _projection(d, cumulative[-1] if cumulative else 0.0))),
        ("Idle share of measured GPU time, per week",
         charts.column_chart(labels, [r.idle_share for r in rows], "Idle share per week",
                             percent=True)),
    ]
    communities = sorted(d.communities, key=lambda r: -r.gpu_hours)
    out.append(("GPU-hours per community", charts.bar_chart(
        [r.community or "" for r in communities],
        {"active": [r.gpu_hours_active for r in communities],
         "idle": [r.gpu_hours_idle for r in communities],
         "unknown": [r.gpu_hours_unknown for r in communities]},
        "GPU-hours per community")))
    countries = d.total.countries if d.total else {}
    out.append(("Users per country", charts.bar_chart(
        list(countries), {"users": [float(v) for v in countries.values()]},
        "Users per country")))
    return out


def summary_html(d: Dashboard) -> str:
    t, b = d.total, d.weekly.budget
    if t is None:
        return "<p>No sessions recorded in this window yet.</p>"
    items = [
        ("Sessions", f"{t.sessions:,}"), ("Users", f"{t.users:,}"),
        ("CPU-hours", f"{t.cpu_hours:,.0f}"), ("GPU-hours", f"{t.gpu_hours:,.0f}"),
        ("of it idle", f"{t.gpu_hours_idle:,.0f} ({t.idle_share:.0%} of measured)"),
        ("Countries", f"{t.country_count}"),
        ("GPU energy", f"{t.energy_kwh:,.0f} kWh, {t.co2_kg:,.0f} kg CO2e"),
    ]
    if b is not None:
        outlook = ("exceeded" if b.exceeded else
                   f"runs out {b.run_out.isoformat()}" if b.run_out else "no run-out date")
        items.append(("Budget", f"{b.used:,.0f} of {b.gpu_hours:,.0f} GPU-h; {outlook}"))
    cells = "".join(f"<div class=stat><b>{escape(v)}</b><span>{escape(k)}</span></div>"
                    for k, v in items)
    return f"<div class=stats>{cells}</div>"


def metrics(d: Dashboard) -> bytes:
    """The page's numbers in Prometheus' text format."""
    reg = CollectorRegistry()
    labels = ["community"]
    g = {name: Gauge(f"imagine_accounting_{name}", help_, labels, registry=reg)
         for name, help_ in [
             ("gpu_hours", "GPU-hours allocated in the window"),
             ("gpu_hours_active", "GPU-hours the culler saw active"),
             ("gpu_hours_idle", "GPU-hours the culler saw idle"),
             ("gpu_hours_unknown", "GPU-hours not classified"),
             ("cpu_hours", "CPU-hours in the window"),
             ("users", "Distinct users in the window"),
             ("sessions", "Sessions started in the window")]}
    for row in d.communities:
        for name, gauge in g.items():
            gauge.labels(row.community or "").set(getattr(row, name))
    country = Gauge("imagine_accounting_users_by_country", "Distinct users per country",
                    ["country"], registry=reg)
    for code, n in (d.total.countries if d.total else {}).items():
        country.labels(code).set(n)
    last = d.weekly.rows[-1] if d.weekly.rows else None
    Gauge("imagine_accounting_idle_share_last_week", "Idle share of measured GPU time",
          registry=reg).set(last.idle_share if last else 0.0)
    if d.total:
        Gauge("imagine_accounting_energy_kwh", "GPU energy in the window", registry=reg
              ).set(d.total.energy_kwh)
        Gauge("imagine_accounting_co2_kg", "CO2e of that energy", registry=reg
              ).set(d.total.co2_kg)
    b = d.weekly.budget
    if b is not None:
        Gauge("imagine_accounting_budget_gpu_hours", "GPU-hours granted", registry=reg
              ).set(b.gpu_hours)
        Gauge("imagine_accounting_budget_used_gpu_hours", "GPU-hours used since budget start",
              registry=reg).set(b.used)
        run_out = Gauge("imagine_accounting_budget_run_out_timestamp_seconds",
                        "When the budget runs out at the current rate (0: not foreseen)",
                        registry=reg)
        run_out.set(dt.datetime.combine(b.run_out, dt.time(), dt.timezone.utc).timestamp()
                    if b.run_out else 0)
    return generate_latest(reg)
