"""`jupyterhub-imagine report|export|sync`: the assessment tables and accounting records."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from . import export, render
from .config import AccountingConfigError, ImagineAccounting
from .culler_sync import sync_from_culler
from .periods import BY, parse_day, periods
from .report import ReportSettings, build_report
from .store import AccountingStore


class ProgressBar:
    """A one-line bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r[{bar}] {done}/{total} queries{end}")
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jupyterhub-imagine", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("report", "assessment tables per period"),
                        ("export", "per-session records in an EGI/APEL accounting format"),
                        ("sync", "copy the culler's GPU-seconds into the records")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("-f", "--config", help="a traitlets config file (e.g. the hub's)")
        s.add_argument("--db-url", help="overrides ImagineAccounting.db_url")
        s.add_argument("--culler-db-url", help="overrides ImagineAccounting.culler_db_url")
        if name == "sync":
            continue
        s.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
        s.add_argument("--to", dest="last", required=True, help="last day (included)")
        s.add_argument("--no-sync", action="store_true", help="do not read the culler first")
        if name == "report":
            s.add_argument("--by", choices=BY, default="month")
            s.add_argument("--by-community", action="store_true")
            s.add_argument("--format", choices=render.FORMATS, default="md")
            s.add_argument("--budget-gpu-hours", type=float)
            s.add_argument("--grid-g-co2-per-kwh", type=float)
        else:
            s.add_argument("--format", choices=export.FORMATS, default="apel-cloud")
            s.add_argument("--site", help="overrides ImagineAccounting.site_name")
        s.add_argument("-o", "--output", help="write here instead of standard output")
    return p


def _settings(args: argparse.Namespace) -> ImagineAccounting:
    config = Config()
    if args.config:
        path = Path(args.config)
        config = PyFileConfigLoader(path.name, str(path.parent.resolve())).load_config()
    overrides = {
        "db_url": args.db_url,
        "culler_db_url": args.culler_db_url,
        "budget_gpu_hours": getattr(args, "budget_gpu_hours", None),
        "grid_g_co2_per_kwh": getattr(args, "grid_g_co2_per_kwh", None),
        "site_name": getattr(args, "site", None),
    }
    for name, value in overrides.items():
        if value is not None:
            config.ImagineAccounting[name] = value
    return ImagineAccounting(config=config)


def _sync(settings: ImagineAccounting, store: AccountingStore) -> None:
    if settings.culler_db_url:
        n = sync_from_culler(store, settings.culler_db_url, settings.key())
        print(f"synced GPU-seconds of {n} session(s) from the culler", file=sys.stderr)


def run(argv: list[str] | None = None) -> str:
    """Parse ``argv``, do the work, return the text to print."""
    args = _parser().parse_args(argv)
    settings = _settings(args)
    store = AccountingStore(settings.db_url)
    try:
        if args.command == "sync":
            if not settings.culler_db_url:
                raise AccountingConfigError("sync needs --culler-db-url or "
                                            "ImagineAccounting.culler_db_url")
            _sync(settings, store)
            return ""
        first, last = parse_day(args.first, "--from"), parse_day(args.last, "--to")
        if not args.no_sync:
            _sync(settings, store)
        if args.command == "export":
            site = settings.site_name
            if not site:
                raise AccountingConfigError("export needs --site or ImagineAccounting.site_name")
            return export.export(store.engine, first, last, args.format, site, time.time())
        report_settings = ReportSettings(
            budget_gpu_hours=settings.budget_gpu_hours,
            budget_start=settings.budget_start_ts(),
            grid_g_co2_per_kwh=settings.grid_g_co2_per_kwh,
            rate_window_days=settings.rate_window_days,
            now=time.time(),
        )
        report = build_report(store.engine, periods(first, last, args.by), args.by,
                              args.by_community, report_settings, ProgressBar())
        return render.render(report, args.format)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        text = run(args)
    except (AccountingConfigError, ValueError) as exc:
        print(f"jupyterhub-imagine: {exc}", file=sys.stderr)
        sys.exit(2)
    except sa.exc.SQLAlchemyError as exc:
        # the URL may hold a password: name the error, not the URL
        print(f"jupyterhub-imagine: the accounting database cannot be used: "
              f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}", file=sys.stderr)
        sys.exit(3)
    out = _parser().parse_known_args(args)[0]
    if getattr(out, "output", None):
        Path(out.output).write_text(text)
    elif text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


if __name__ == "__main__":
    main()
