"""Shared handler base: JSON errors, authorization resource, no activity tracking for polls."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from .validation import error_payload

# Custom authorization resource: a read-only or shared identity can be granted "read" on it
# without being able to mount data or install kernels ("write").
AUTH_RESOURCE = "jupyterhub_imagine"

MAX_BODY_BYTES = 64 * 1024


class ImagineAPIHandler(APIHandler):
    """Base for every route under /jupyterhub-imagine/api/."""

    auth_resource = AUTH_RESOURCE

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        self.finish(json.dumps(error_payload(exc, status_code, self._reason)))

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object, or a 400/413 that says what is wrong."""
        body = self.request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise web.HTTPError(413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise web.HTTPError(400, f"Request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "Request body must be a JSON object")
        return data


class PollingHandler(ImagineAPIHandler):
    """Read-only endpoints that the labextension polls: they must not keep an idle server alive."""

    _track_activity = False
