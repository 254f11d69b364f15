"""Shared handler base: JSON errors, authorization resource, no activity tracking for polls."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler

from .validation import UserError, error_payload, parse_json_object

# Custom authorization resource: a read-only or shared identity can be granted "read" on it
# without being able to mount data or install kernels ("write").
AUTH_RESOURCE = "jupyterhub_imagine"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ImagineAPIHandler(APIHandler):
    """Base for every route under /jupyterhub-imagine/api/."""

    auth_resource = AUTH_RESOURCE

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        payload = error_payload(exc, status_code, self._reason)
        if status_code == 405 and not isinstance(exc, UserError):
            method = self.request.method if self.request.method in _METHODS else "this method"
            payload = {
                "message": f"{method} is not allowed on {self.request.path[:200]}",
                "reason": "method-not-allowed",
            }
        self.finish(json.dumps(payload))

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object, or a 400/413 that says what is wrong."""
        return parse_json_object(self.request.body)


class NoRouteHandler(ImagineAPIHandler):
    """Registered last under the API prefix, so an unknown route gets a JSON 404 too."""

    _track_activity = False

    async def prepare(self) -> None:  # type: ignore[override]
        # jupyter-server's own preparation first (host check, identity), as its 404 handler does
        await super().prepare()
        raise UserError(
            f"there is no API route {self.request.path[:200]!r}; see the server API docs",
            "no-route",
            status=404,
        )


class PollingHandler(ImagineAPIHandler):
    """Read-only endpoints that the labextension polls: they must not keep an idle server alive."""

    _track_activity = False
