"""The report as Markdown, CSV or JSON (pure: a Report in, text out)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from .report import Report, UsageRow

FORMATS = ("md", "csv", "json")

COLUMNS = [
    ("period", "Period"),
    ("community", "Community"),
    ("sessions", "Sessions"),
    ("users", "Users"),
    ("cpu_hours", "CPU-h"),
    ("gpu_hours", "GPU-h"),
    ("gpu_hours_active", "GPU-h active"),
    ("gpu_hours_idle", "GPU-h idle"),
    ("gpu_hours_unknown", "GPU-h unknown"),
    ("idle_share", "Idle share"),
    ("cumulative_gpu_hours", "GPU-h cumulative"),
    ("country_count", "Countries"),
    ("energy_kwh", "Energy kWh"),
    ("energy_kwh_idle", "of it idle kWh"),
    ("co2_kg", "CO2 kg"),
]


def _record(row: UsageRow) -> dict[str, Any]:
    out = asdict(row)
    out["idle_share"] = row.idle_share
    out["country_count"] = row.country_count
    return out


def _columns(report: Report) -> list[tuple[str, str]]:
    return [c for c in COLUMNS if report.by_community or c[0] != "community"]


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "idle_share":
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _countries(countries: dict[str, int]) -> str:
    return ", ".join(f"{c} ({n})" for c, n in countries.items()) or "none"


def _budget_md(report: Report) -> list[str]:
    b = report.budget
    if b is None:
        return []
    share = b.used / b.gpu_hours if b.gpu_hours else 0.0
    if b.exceeded:
        outlook = f"**exceeded** by {b.used - b.gpu_hours:,.1f} GPU-h"
    elif b.run_out:
        outlook = f"runs out on **{b.run_out.isoformat()}** at the current rate"
    else:
        outlook = "no run-out date within a century at the current rate"
    return [
        "## GPU budget", "",
        f"Used {b.used:,.1f} of {b.gpu_hours:,.1f} GPU-h ({share:.0%}); "
        f"{b.rate_per_day:,.1f} GPU-h/day over the last {report.settings.rate_window_days:g} "
        f"days; {outlook}.", "",
    ]


def to_markdown(report: Report) -> str:
    cols = _columns(report)
    lines = [
        f"# Usage {report.first} to {report.last} (by {report.by})", "",
        "| " + " | ".join(t for _, t in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for row in report.rows + report.total:
        rec = _record(row)
        lines.append("| " + " | ".join(_cell(k, rec[k]) for k, _ in cols) + " |")
    lines += ["", "## Countries (users per country)", ""]
    for row in report.rows + report.total:
        who = f"{row.period} {row.community}" if report.by_community else row.period
        lines.append(f"- {who}: {row.country_count} — {_countries(row.countries)}")
    lines.append("")
    lines += _budget_md(report)
    grid = report.settings.grid_g_co2_per_kwh
    lines += [f"CO2 at {grid:g} gCO2e/kWh. GPU-hours count from allocation; active and idle "
              "come from the idle-GPU culler, the rest is unknown.", ""]
    return "\n".join(lines)


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    cols = [k for k, _ in _columns(report)] + ["countries"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for row in report.rows + report.total:
        rec = _record(row)
        rec["countries"] = ";".join(f"{c}:{n}" for c, n in row.countries.items())
        writer.writerow([("" if rec[k] is None else rec[k]) for k in cols])
    return buf.getvalue()


def to_json(report: Report) -> str:
    b = report.budget
    doc = {
        "from": report.first.isoformat(),
        "to": report.last.isoformat(),
        "by": report.by,
        "rows": [_record(r) for r in report.rows],
        "total": [_record(r) for r in report.total],
        "budget": None if b is None else {
            "gpu_hours": b.gpu_hours, "used": b.used, "rate_per_day": b.rate_per_day,
            "run_out": b.run_out.isoformat() if b.run_out else None, "exceeded": b.exceeded,
        },
        "grid_g_co2_per_kwh": report.settings.grid_g_co2_per_kwh,
    }
    return json.dumps(doc, indent=2)


def render(report: Report, fmt: str) -> str:
    return {"md": to_markdown, "csv": to_csv, "json": to_json}[fmt](report)
