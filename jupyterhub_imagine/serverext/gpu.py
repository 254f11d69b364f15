"""GET /gpu: this server's GPUs (NVML, shared sampler) and the culler's pending warning."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import Activity, ImagineAPIHandler

SAMPLER_KEY = "imagine_gpu_sampler"
CULLING_KEY = "imagine_culling"


class GPUHandler(ImagineAPIHandler):
    # the labextension polls it: never activity
    activity = Activity.NONE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        report = dict(await self.settings[SAMPLER_KEY].sample())
        culling = self.settings.get(CULLING_KEY)
        report["warning"] = culling.warning_payload() if culling is not None else None
        self.finish(report)


handlers: list[tuple[str, type[ImagineAPIHandler]]] = [("gpu", GPUHandler)]
