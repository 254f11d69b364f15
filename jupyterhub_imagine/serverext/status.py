"""GET /status: the extension's version, profile and features."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import __version__
from .base import Activity, ImagineAPIHandler

SETTINGS_KEY = "imagine_server_info"


class StatusHandler(ImagineAPIHandler):
    activity = Activity.NONE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        info: dict[str, Any] = self.settings[SETTINGS_KEY]
        self.finish({"version": __version__, **info})


handlers: list[tuple[str, type[ImagineAPIHandler]]] = [("status", StatusHandler)]
