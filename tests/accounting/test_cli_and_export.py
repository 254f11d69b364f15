"""The report command and the APEL exports on a small, known set of sessions."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from jupyterhub_imagine.accounting.cli import ProgressBar, run
from jupyterhub_imagine.accounting.periods import ts
from jupyterhub_imagine.accounting.store import AccountingStore

DAY = 86400.0
JAN = ts(dt.date(2026, 1, 1))


def _row(uid: str, start: float, hours: float, gpus: float = 1.0, **kw) -> dict:
    row = {
        "session_uid": uid, "user_key": kw.pop("user", "u1"), "server_key": "s1",
        "hub_started": None, "community": "egi:vo.imagine.example", "country": "DE",
        "profile": "gpu-a100", "cpus": 4.0, "mem_bytes": 8 * 2**30, "gpus": gpus,
        "gpu_type": "NVIDIA A100-SXM4-40GB", "mig": "", "start_ts": start,
        "ready_ts": start + 3, "stop_ts": start + hours * 3600, "stop_reason": "user",
        "stop_detail": None, "gpu_active_s": hours * 3600 * gpus * 0.25,
        "gpu_idle_s": hours * 3600 * gpus * 0.75, "gpu_unknown_s": 0.0, "postponements": 0,
        "energy_j": 3.6e6 * hours,
    }
    row.update(kw)
    return row


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path}/a.sqlite"
    store = AccountingStore(url)
    store.insert_many([
        _row("a", JAN + 10 * DAY, 10),
        # crosses from January into February: 2 h in each
        _row("b", JAN + 31 * DAY - 7200, 4, user="u2", country="FR",
             community="umbrellaid:umbrellaid"),
        _row("c", JAN + 40 * DAY, 2, gpus=0.0, user="u3", country="unknown", mig="",
             energy_j=None),
        _row("d", JAN + 50 * DAY, 1, mig="1g.5gb", stop_ts=None, stop_reason=None),
    ])
    store.close()
    return url


def test_report_by_month_in_json(url):
    doc = json.loads(run(["report", "--db-url", url, "--from", "2026-01-01", "--to",
                          "2026-02-28", "--format", "json", "--grid-g-co2-per-kwh", "300"]))
    jan, feb = doc["rows"]
    assert (jan["period"], jan["sessions"], jan["users"]) == ("2026-01", 2, 2)
    assert jan["gpu_hours"] == pytest.approx(12)  # 10 + the 2 h of "b" in January
    assert jan["gpu_hours_idle"] == pytest.approx(9)
    assert jan["idle_share"] == pytest.approx(0.75)
    assert jan["cpu_hours"] == pytest.approx(48)
    assert jan["energy_kwh"] == pytest.approx(12) and jan["co2_kg"] == pytest.approx(3.6)
    assert jan["countries"] == {"DE": 1, "FR": 1} and jan["country_count"] == 2
    # "d" is still running: counted up to now, which is after February
    assert (feb["sessions"], feb["users"]) == (2, 3) and feb["countries"]["unknown"] == 1
    assert feb["country_count"] == 2


def test_report_by_community_markdown(url):
    text = run(["report", "--db-url", url, "--from", "2026-01-01", "--to", "2026-03-31",
                "--by", "quarter", "--by-community", "--budget-gpu-hours", "10"])
    assert "| 2026-Q1 | egi:vo.imagine.example |" in text
    assert "| 2026-Q1 | umbrellaid:umbrellaid |" in text
    assert "**exceeded**" in text


@pytest.mark.parametrize("args, message", [
    (["--from", "2026-13-01", "--to", "2026-02-01"], "--from must be a date"),
    (["--from", "2026-03-01", "--to", "2026-02-01"], "is before --from"),
])
def test_bad_dates_get_a_clear_error(url, args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterhub_imagine.accounting.cli", "report", "--db-url", url,
         *args], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unusable_database_gets_a_clear_error_without_the_url(tmp_path):
    url = "postgresql+psycopg://acct:s3cret@127.0.0.1:9/none"
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterhub_imagine.accounting.cli", "report", "--db-url", url,
         "--from", "2026-01-01", "--to", "2026-01-31"], capture_output=True, text=True)
    assert proc.returncode == 3 and "cannot be used" in proc.stderr
    assert "s3cret" not in proc.stderr and "Traceback" not in proc.stderr


def test_apel_cloud_records(url):
    text = run(["export", "--db-url", url, "--from", "2026-01-01", "--to", "2026-01-31",
                "--site", "IMAGINE-TEST"])
    assert text.startswith("APEL-cloud-message: v0.4\n") and text.endswith("%%\n")
    body = text.removeprefix("APEL-cloud-message: v0.4\n")
    records = [dict(line.split(": ", 1) for line in block.splitlines())
               for block in body.split("%%\n") if block.strip()]
    assert [r["VMUUID"] for r in records] == ["a", "b"]
    a = records[0]
    assert (a["SiteName"], a["FQAN"], a["Status"], a["WallDuration"]) == (
        "IMAGINE-TEST", "vo.imagine.example", "completed", "36000")
    assert (a["CpuCount"], a["Memory"], a["GlobalUserName"]) == ("4", "8192", "u1")


def test_apel_accelerator_records_split_by_month(url):
    doc = json.loads(run(["export", "--db-url", url, "--from", "2026-01-01", "--to",
                          "2026-02-28", "--site", "IMAGINE-TEST",
                          "--format", "apel-accelerator"]))
    assert doc["Type"] == "APEL-accelerator-message" and doc["Version"] == "0.1"
    b = [r for r in doc["UsageRecords"] if r["AssociatedRecord"] == "b"]
    assert [(r["MeasurementMonth"], r["AvailableDuration"], r["ActiveDuration"]) for r in b] \
        == [(1, 7200, 1800), (2, 7200, 1800)]
    assert not [r for r in doc["UsageRecords"] if r["AssociatedRecord"] == "c"]  # no GPU
    d = [r for r in doc["UsageRecords"] if r["AssociatedRecord"] == "d"]
    assert d[0]["Model"] == "NVIDIA A100-SXM4-40GB MIG 1g.5gb"


def test_export_needs_a_site(url):
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterhub_imagine.accounting.cli", "export", "--db-url", url,
         "--from", "2026-01-01", "--to", "2026-01-31"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--site" in proc.stderr


def test_progress_bar_draws_only_on_a_terminal(tmp_path):
    class Tty:
        def __init__(self, tty: bool) -> None:
            self.text, self.tty = "", tty

        def isatty(self) -> bool:
            return self.tty

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    on, off = Tty(True), Tty(False)
    for stream in (on, off):
        bar = ProgressBar(stream, width=10)  # type: ignore[arg-type]
        bar(1, 4)
        bar(4, 4)
    assert "[##........] 1/4" in on.text and on.text.endswith("4/4 queries\n")
    assert off.text == ""
