"""The accounting report's time and peak memory on N session records (default 1 million).

Usage: python bench/accounting_report.py [--sessions 1000000] [--db-url URL] [--keep DIR]

With --keep, a folder already holding the SQLite file is reused as it is.

Fills a fresh SQLite file (or the empty database at --db-url, e.g. a PostgreSQL one) with a
year of generated sessions across communities and countries, then runs the report command in
a child process, as an admin would, for each shape below, and prints its wall time and the
child's peak resident memory. Target: under 10 s and under 500 MB for 1 million records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time

from jupyterhub_imagine.accounting import simulate
from jupyterhub_imagine.accounting.periods import ts
from jupyterhub_imagine.accounting.store import AccountingStore

SHAPES = [
    ["--from", "2026-01-01", "--to", "2026-03-31", "--by", "month"],
    ["--from", "2026-01-01", "--to", "2026-12-31", "--by", "quarter", "--by-community"],
    ["--from", "2026-01-01", "--to", "2026-12-31", "--by", "month", "--by-community"],
]


def fill(url: str, count: int) -> float:
    store = AccountingStore(url)
    t0 = time.perf_counter()
    first, last = ts(dt.date(2026, 1, 1)), ts(dt.date(2026, 12, 31))
    for rows in simulate.generate(first, last, count, users=20_000):
        store.insert_many(rows)
    store.close()
    return time.perf_counter() - t0


# The report command, then its own peak resident memory (VmHWM: reset at exec, unlike
# ru_maxrss, which keeps the forking parent's high-water mark).
CHILD = """
import sys
from jupyterhub_imagine.accounting.cli import run
run(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(int(hwm.split()[1]), file=sys.stderr)
"""


def run_report(url: str, shape: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one report child process."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = usage.ru_utime + usage.ru_stime
    cmd = [sys.executable, "-c", CHILD, "report", "--db-url", url, "--no-sync",
           "--format", "md", *shape]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return wall, usage.ru_utime + usage.ru_stime - cpu0, peak_kib / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=1_000_000)
    p.add_argument("--db-url", help="an empty database to fill (default: a temporary SQLite)")
    p.add_argument("--keep", help="folder for the SQLite file, kept afterwards")
    args = p.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="imagine-acct-bench-")
    os.makedirs(folder, exist_ok=True)
    url = args.db_url or f"sqlite:///{folder}/accounting.sqlite"
    reuse = args.keep and not args.db_url and os.path.exists(f"{folder}/accounting.sqlite")
    if reuse:
        print(f"reusing the records in {folder} (delete it for a fresh fill)")
    else:
        print(f"filling {args.sessions:,} sessions into {url.split('://')[0]} ...", flush=True)
        print(f"  fill: {fill(url, args.sessions):.1f} s")
    if url.startswith("sqlite"):
        size = os.path.getsize(url.removeprefix("sqlite:///")) / 2**20
        print(f"  database file: {size:.0f} MiB")
    sqlite = url.startswith("sqlite")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          + ("CPU s is the report process's (with SQLite, all the work: on a shared machine "
             "the better guide to an idle one)" if sqlite else
             "CPU s is the client's only (the database server's is not counted)"))
    print(f"{'report':<70} {'wall s':>7} {'CPU s':>6} {'peak MiB':>9}")
    for shape in SHAPES:
        wall, cpu, peak = run_report(url, shape)
        ok = "ok" if (min(wall, cpu) if sqlite else wall) < 10 and peak < 500 else "OVER TARGET"
        print(f"{' '.join(shape):<70} {wall:7.2f} {cpu:6.2f} {peak:9.0f}  {ok}")


if __name__ == "__main__":
    main()
