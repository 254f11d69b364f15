"""``GET /jupyterhub-imagine/api/share?path=<path under the server root>``: git facts for a link."""

from __future__ import annotations

import os

from jupyter_server.auth.decorator import authorized
from tornado import web

from ... import contract
from ..base import Activity, ImagineAPIHandler
from ..validation import NotFound, UserError, check_relative_path
from .probe import probe


class ShareInfoHandler(ImagineAPIHandler):
    """Read-only, and opened by a person clicking Share: it counts as activity."""

    activity = Activity.ALL

    def checked_path(self, root: str) -> str:
        values = self.request.query_arguments.get("path")
        if not values:
            raise UserError("'path' is required (a file or folder in your files)", "invalid-path")
        path = check_relative_path(self.decode_argument(values[-1], "path"), "path")
        full = os.path.realpath(os.path.join(root, path))
        if os.path.commonpath([full, root]) != root:
            raise UserError("'path' leads outside your files", "outside-root", status=403)
        if not os.path.exists(full):
            raise NotFound(f"There is no file or folder {path[:200]!r}")
        return path

    @web.authenticated
    @authorized
    async def get(self) -> None:
        root = os.path.realpath(os.path.expanduser(self.settings["server_root_dir"]))
        info = await probe(root, self.checked_path(root))
        self.set_header("Cache-Control", "no-store")
        self.finish(info.to_json())


handlers = [(contract.ROUTE_SHARE, ShareInfoHandler)]
