"""A simulated quarter: the report's totals equal the generator's own sums (SQLite and
PostgreSQL), in every output format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from jupyterhub_imagine.accounting import render, simulate
from jupyterhub_imagine.accounting.periods import periods, ts
from jupyterhub_imagine.accounting.report import ReportSettings, build_report
from jupyterhub_imagine.accounting.store import AccountingStore

FIRST, LAST = dt.date(2026, 1, 1), dt.date(2026, 3, 31)
NOW = ts(dt.date(2026, 4, 2))


@pytest.fixture
def quarter(db_url: str):
    store = AccountingStore(db_url)
    months = periods(FIRST, LAST, "month")
    sums: dict[str, simulate.Sums] = {}
    # start a little before the quarter so that sessions cross into it, and past its end
    for rows in simulate.generate(ts(FIRST) - 20_000, ts(LAST) + 50_000, 3000, users=300):
        store.insert_many(rows)
        simulate.add(sums, rows, months + [periods(FIRST, LAST, "quarter")[0]])
    yield store, months, sums
    store.close()


def test_monthly_tables_match_the_generators_sums(quarter):
    store, months, sums = quarter
    settings = ReportSettings(budget_gpu_hours=1e9, grid_g_co2_per_kwh=250, now=NOW)
    report = build_report(store.engine, months, "month", False, settings)
    assert [r.period for r in report.rows] == ["2026-01", "2026-02", "2026-03"]
    cumulative = 0.0
    for row in report.rows:
        s = sums[row.period]
        assert row.sessions == s.sessions
        assert row.users == len(s.users)
        assert row.cpu_hours == pytest.approx(s.cpu_s / 3600, rel=1e-9)
        assert row.gpu_hours == pytest.approx(s.gpu_s / 3600, rel=1e-9)
        assert row.gpu_hours_active == pytest.approx(s.active_s / 3600, rel=1e-9)
        assert row.gpu_hours_idle == pytest.approx(s.idle_s / 3600, rel=1e-9)
        assert row.gpu_hours_unknown == pytest.approx(
            (s.gpu_s - s.active_s - s.idle_s) / 3600, rel=1e-6)
        assert row.energy_kwh == pytest.approx(s.energy_j / 3.6e6, rel=1e-9)
        assert row.co2_kg == pytest.approx(s.energy_j / 3.6e6 * 0.25, rel=1e-9)
        assert row.countries == {c: len(u) for c, u in s.countries.items()}
        assert row.country_count == len(set(s.countries) - {"unknown"})
        cumulative += s.gpu_s / 3600
        assert row.cumulative_gpu_hours == pytest.approx(cumulative, rel=1e-9)
    (total,) = report.total
    q = sums["2026-Q1"]
    assert total.users == len(q.users) and total.sessions == q.sessions
    assert total.gpu_hours == pytest.approx(q.gpu_s / 3600, rel=1e-9)


def test_quarter_by_community_adds_up_to_the_whole(quarter):
    store, _, sums = quarter
    q = periods(FIRST, LAST, "quarter")
    report = build_report(store.engine, q, "quarter", True, ReportSettings(now=NOW))
    assert {r.community for r in report.rows} == set(simulate.COMMUNITIES)
    assert sum(r.gpu_hours for r in report.rows) == pytest.approx(sums["2026-Q1"].gpu_s / 3600)
    assert sum(r.users for r in report.rows) == len(sums["2026-Q1"].users)
    assert sum(r.sessions for r in report.rows) == sums["2026-Q1"].sessions


def test_budget_run_out_date_follows_the_recent_rate(quarter):
    store, months, sums = quarter
    used = sum(sums[m.label].gpu_s for m in months) / 3600
    settings = ReportSettings(budget_gpu_hours=used * 2, budget_start=ts(FIRST), now=NOW,
                              rate_window_days=30)
    budget = build_report(store.engine, months, "month", False, settings).budget
    assert budget is not None and not budget.exceeded
    assert budget.used == pytest.approx(used)
    # about as much again at the same rate: roughly another quarter
    assert dt.date(2026, 5, 15) < budget.run_out < dt.date(2026, 8, 15)
    settings = ReportSettings(budget_gpu_hours=used / 2, now=NOW)
    budget = build_report(store.engine, months, "month", False, settings).budget
    assert budget.exceeded and budget.run_out is None


def test_formats_carry_the_same_numbers(quarter):
    store, months, sums = quarter
    report = build_report(store.engine, months, "month", False, ReportSettings(now=NOW))
    doc = json.loads(render.render(report, "json"))
    assert [r["sessions"] for r in doc["rows"]] == [sums[m.label].sessions for m in months]
    rows = list(csv.DictReader(io.StringIO(render.render(report, "csv"))))
    assert [r["period"] for r in rows] == ["2026-01", "2026-02", "2026-03", "total"]
    assert float(rows[0]["gpu_hours"]) == pytest.approx(sums["2026-01"].gpu_s / 3600)
    md = render.render(report, "md")
    assert "| 2026-02 |" in md and "Countries" in md and "GPU-h idle" in md
