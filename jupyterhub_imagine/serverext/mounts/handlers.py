"""REST handlers for /mounts (reads are polls, writes are activity)."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..base import ImagineAPIHandler
from ..validation import UserError, check_flag_arg
from .manager import ImagineMountManager
from .spec import AUTH_KINDS, BACKENDS, WEBDAV_PRESETS

SETTINGS_KEY = "imagine_mounts"

BACKEND_INFO = {
    "backends": list(BACKENDS),
    "webdav_presets": list(WEBDAV_PRESETS),
    "auth": list(AUTH_KINDS),
}


class _MountsBase(ImagineAPIHandler):
    @property
    def mounts(self) -> ImagineMountManager:
        manager = self.settings.get(SETTINGS_KEY)
        if manager is None:
            raise UserError("mounts are not enabled on this server", "disabled", status=404)
        return manager  # type: ignore[no-any-return]


class MountsHandler(_MountsBase):
    """GET: every mount with its health. POST: define a mount and start mounting it (202)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        mounts = await self.mounts.list_mounts()
        self.finish({"root": self.mounts.root, "mounts": mounts, **BACKEND_INFO})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        view = await self.mounts.create(self.json_body())
        self.set_status(202)
        self.finish(view)


class MountHandler(_MountsBase):
    """GET: one mount's state after a fresh health check. DELETE: unmount and forget it."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.finish(await self.mounts.get(name))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        """?force=true also discards writes not uploaded yet, and names them (200)."""
        discarded = await self.mounts.delete(
            name, force=check_flag_arg(self.query("force"), "force")
        )
        if discarded:
            self.finish(
                {
                    "message": f"deleted; {len(discarded)} file(s) not uploaded were discarded",
                    "discarded": discarded,
                }
            )
            return
        self.set_status(204)
        self.finish()


class MountActionHandler(_MountsBase):
    """POST remount (optionally with re-entered secrets) or unmount (?force=true: even with
    writes not uploaded yet, which stay in the mount's cache)."""

    @web.authenticated
    @authorized
    async def post(self, name: str, action: str) -> None:
        view: dict[str, Any]
        if action == "remount":
            view = await self.mounts.remount(name, self.json_body())
            self.set_status(202)
        elif action == "unmount":
            force = check_flag_arg(self.query("force"), "force")
            view = await self.mounts.unmount(name, force=force)
        else:
            raise UserError(
                "the action must be 'remount' or 'unmount'", "unknown-action", status=404
            )
        self.finish(view)


handlers: list[tuple[str, type[ImagineAPIHandler]]] = [
    ("mounts", MountsHandler),
    ("mounts/([^/]+)", MountHandler),
    ("mounts/([^/]+)/([^/]+)", MountActionHandler),
]
