"""Status and GPU endpoints."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import __version__
from .base import PollingHandler


class StatusHandler(PollingHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        info: dict[str, Any] = self.settings["imagine_server_info"]
        self.finish({"version": __version__, **info})


class GPUHandler(PollingHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        report = dict(await self.settings["imagine_gpu_sampler"].sample())
        culling = self.settings.get("imagine_culling")
        report["warning"] = culling.warning_payload() if culling is not None else None
        self.finish(report)
