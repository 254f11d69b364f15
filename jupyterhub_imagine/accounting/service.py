"""The accounting admin page: a JupyterHub service, admins only (the hub's OAuth).

Run by the hub as a managed service (see docs/accounting.md)::

    jupyterhub-imagine-accounting-service -f /etc/jupyterhub/jupyterhub_config.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from . import dashboard
from .config import ImagineAccounting
from .culler_sync import sync_from_culler
from .report import ReportSettings
from .store import AccountingStore

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#212121;max-width:1360px}
h1{font-size:22px;margin:0 0 4px} p.sub{color:#616161;margin:0 0 16px}
.stats{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.stat{background:#f5f5f5;border-radius:6px;padding:8px 14px;display:flex;flex-direction:column}
.stat b{font-size:18px} .stat span{color:#616161;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(660px,1fr));gap:16px}
figure{margin:0;border:1px solid #e0e0e0;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
"""


class Cache:
    """The dashboard, recomputed at most every ``seconds`` (reports scan the whole table)."""

    def __init__(self, settings: ImagineAccounting, store: AccountingStore, seconds: float,
                 weeks: int) -> None:
        self.settings, self.store, self.seconds, self.weeks = settings, store, seconds, weeks
        self._value: dashboard.Dashboard | None = None
        self._at = 0.0
        self._synced: float | None = None  # after one full sync, only recent culler rows
        self._lock = asyncio.Lock()

    def _compute(self) -> dashboard.Dashboard:
        s = self.settings
        if s.culler_db_url:
            since = None if self._synced is None else self._synced - 2 * 86400
            started = time.time()
            sync_from_culler(self.store, s.culler_db_url, s.key(), since)
            self._synced = started
        report_settings = ReportSettings(
            budget_gpu_hours=s.budget_gpu_hours, budget_start=s.budget_start_ts(),
            grid_g_co2_per_kwh=s.grid_g_co2_per_kwh, rate_window_days=s.rate_window_days,
            now=time.time(),
        )
        return dashboard.load(self.store.engine, report_settings, self.weeks)

    async def get(self) -> dashboard.Dashboard:
        async with self._lock:
            if self._value is None or time.monotonic() - self._at > self.seconds:
                self._value = await asyncio.to_thread(self._compute)
                self._at = time.monotonic()
            return self._value


class AdminOnly(HubOAuthenticated, web.RequestHandler):
    """Hub OAuth (the token must grant access to this service), then admins only."""

    def check_admin(self, allow_metrics_scope: bool = False) -> None:
        user: dict[str, Any] = self.current_user  # type: ignore[assignment]
        if user.get("admin"):
            return
        if allow_metrics_scope and "read:metrics" in (user.get("scopes") or []):
            return
        raise web.HTTPError(403, "the accounting page is for hub admins")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        reason = self._reason
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            reason = exc.log_message
        self.finish({"status": status_code, "message": reason})


class PageHandler(AdminOnly):
    @web.authenticated
    async def get(self) -> None:
        self.check_admin()
        d = await self.settings["cache"].get()
        figures = "".join(
            f"<figure><figcaption>{escape(h)}</figcaption>{svg}</figure>"
            for h, svg in dashboard.charts_html(d)
        )
        first = d.weekly.first.isoformat()
        self.finish(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>Usage accounting</title><style>{STYLE}</style></head><body>"
            f"<h1>Usage accounting</h1><p class=sub>Since {first}, by week. GPU-hours count "
            "from allocation; active and idle as the idle-GPU culler measured them. "
            f"<a href='metrics'>Prometheus metrics</a></p>"
            f"{dashboard.summary_html(d)}<div class=grid>{figures}</div></body></html>"
        )


class MetricsHandler(AdminOnly):
    @web.authenticated
    async def get(self) -> None:
        self.check_admin(allow_metrics_scope=True)
        d = await self.settings["cache"].get()
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(dashboard.metrics(d))


def make_app(settings: ImagineAccounting, prefix: str, cache_seconds: float = 300,
             weeks: int = 26) -> web.Application:
    if settings.culler_db_url:
        settings.key()  # a missing key is a named error now, not a failing page later
    store = AccountingStore(settings.db_url)
    cache = Cache(settings, store, cache_seconds, weeks)
    return web.Application(
        [
            (prefix, PageHandler),
            (url_path_join(prefix, "metrics"), MetricsHandler),
            (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        ],
        cookie_secret=os.urandom(32),
        cache=cache,
    )


def _config(path: str | None) -> Config:
    if not path:
        return Config()
    p = Path(path)
    return PyFileConfigLoader(p.name, str(p.parent.resolve())).load_config()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the accounting admin page (a hub service)")
    parser.add_argument("-f", "--config", help="a traitlets config file (e.g. the hub's)")
    parser.add_argument("--cache-seconds", type=float, default=300)
    parser.add_argument("--weeks", type=int, default=26, help="weeks shown on the page")
    args = parser.parse_args(argv)
    settings = ImagineAccounting(config=_config(args.config))
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/imagine-accounting/")
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10102"))
    app = make_app(settings, prefix, args.cache_seconds, args.weeks)
    HTTPServer(app).listen(url.port or 80, url.hostname or "127.0.0.1")
    IOLoop.current().start()


if __name__ == "__main__":
    main()
