"""Per-session records in EGI's accounting formats (APEL), for the site's accounting client.

- ``apel-cloud``: the APEL cloud message v0.4 (the EGI Cloud Usage Record, derived from the OGF
  Usage Record GFD.204): one ``key: value`` block per session, ended by ``%%``.
- ``apel-accelerator``: the APEL accelerator message v0.1 (JSON): one record per GPU session
  and month, with the available (allocated) and active seconds the culler measured.

Users appear only as their pseudonym; the community is sent as the FQAN (the VO name).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from .periods import periods, ts
from .schema import sessions

FORMATS = ("apel-cloud", "apel-accelerator")
CLOUD_HEADER = "APEL-cloud-message: v0.4"
CLOUD_TYPE = "jupyterhub-imagine"


def vo_name(community: str) -> str:
    """``egi:vo.example.org`` -> ``vo.example.org`` (APEL's FQAN carries the bare VO)."""
    return community.split(":", 1)[1] if ":" in community else community


def _sessions(engine: sa.Engine, start: float, end: float, now: float) -> Iterator[Any]:
    c = sessions.c
    stop = sa.func.coalesce(c.stop_ts, now)
    query = (
        sa.select(sessions)
        .where(c.start_ts < end, stop > start)
        .order_by(c.start_ts, c.id)
    )
    with engine.connect() as conn:
        yield from conn.execution_options(stream_results=True, yield_per=2000).execute(query)


def cloud_record(r: Any, site: str, now: float) -> str:
    stop = r.stop_ts
    fields = {
        "VMUUID": r.session_uid,
        "SiteName": site,
        "CloudComputeService": CLOUD_TYPE,
        "MachineName": r.session_uid,
        "LocalUserId": r.user_key,
        "LocalGroupId": r.community,
        "GlobalUserName": r.user_key,
        "FQAN": vo_name(r.community),
        "Status": "completed" if stop is not None else "started",
        "StartTime": int(r.start_ts),
        "EndTime": int(stop) if stop is not None else 0,
        "WallDuration": int(round((stop if stop is not None else now) - r.start_ts)),
        "CpuCount": max(1, math.ceil(r.cpus)),
        "Memory": int(r.mem_bytes // 2**20),
        "ImageId": r.profile,
        "CloudType": CLOUD_TYPE,
    }
    return "\n".join(f"{k}: {v}" for k, v in fields.items())


def accelerator_records(r: Any, site: str, first: dt.date, last: dt.date,
                        now: float) -> Iterator[dict[str, Any]]:
    if not r.gpus:
        return
    stop = r.stop_ts if r.stop_ts is not None else now
    duration = max(stop - r.start_ts, 1e-9)
    for month in periods(first, last, "month"):
        overlap = min(stop, month.end) - max(r.start_ts, month.start)
        if overlap <= 0:
            continue
        frac = overlap / duration
        day = dt.datetime.fromtimestamp(month.start, dt.timezone.utc)
        model = " ".join(filter(None, [r.gpu_type, f"MIG {r.mig}" if r.mig else ""]))
        yield {
            "MeasurementMonth": day.month,
            "MeasurementYear": day.year,
            "AssociatedRecordType": "cloud",
            "AssociatedRecord": r.session_uid,
            "GlobalUserName": r.user_key,
            "FQAN": vo_name(r.community),
            "SiteName": site,
            "Count": r.gpus,
            "AvailableDuration": int(round(overlap)),
            "ActiveDuration": int(round(r.gpu_active_s * frac / r.gpus)),
            "Type": "GPU",
            "Model": model or "unknown",
        }


def export(engine: sa.Engine, first: dt.date, last: dt.date, fmt: str, site: str,
           now: float) -> str:
    """Every session overlapping the days ``first`` .. ``last`` in format ``fmt``."""
    start, end = ts(first), ts(last + dt.timedelta(days=1))
    rows = _sessions(engine, start, end, now)
    if fmt == "apel-cloud":
        blocks = [cloud_record(r, site, now) for r in rows]
        return CLOUD_HEADER + "\n" + "".join(b + "\n%%\n" for b in blocks)
    if fmt == "apel-accelerator":
        records = [a for r in rows for a in accelerator_records(r, site, first, last, now)]
        return json.dumps({"Type": "APEL-accelerator-message", "Version": "0.1",
                           "UsageRecords": records}, indent=1)
    raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
