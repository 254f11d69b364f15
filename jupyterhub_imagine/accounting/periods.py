"""Reporting periods (pure): months or quarters between two dates, in UTC."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

BY = ("month", "quarter", "week")


@dataclass(frozen=True)
class Period:
    """A half-open interval [start, end) of Unix seconds with a label."""

    label: str
    start: float
    end: float


def ts(day: dt.date) -> float:
    """Midnight UTC of ``day`` as Unix seconds."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()


def day_of(seconds: float) -> dt.date:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).date()


def parse_day(text: str, name: str) -> dt.date:
    """A YYYY-MM-DD date, or a ValueError that names the option."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a date like 2026-01-31, not {text!r}") from None


def _next_start(day: dt.date, by: str) -> dt.date:
    if by == "week":
        return day + dt.timedelta(days=7 - day.weekday())
    step = 1 if by == "month" else 3 - (day.month - 1) % 3
    month = day.month - 1 + step
    return dt.date(day.year + month // 12, month % 12 + 1, 1)


def _label(day: dt.date, by: str) -> str:
    if by == "month":
        return f"{day.year}-{day.month:02d}"
    if by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def periods(first: dt.date, last: dt.date, by: str) -> list[Period]:
    """Periods covering the days ``first`` .. ``last`` (both included), cut to that range."""
    if by not in BY:
        raise ValueError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    if last < first:
        raise ValueError(f"--to ({last}) is before --from ({first})")
    out, day, end = [], first, last + dt.timedelta(days=1)
    while day < end:
        nxt = min(_next_start(day, by), end)
        out.append(Period(_label(day, by), ts(day), ts(nxt)))
        day = nxt
    return out
