"""The one handler base of the server extension: JSON errors, the authorization resource,
query arguments as sent, and which requests count as activity.

Every route under ``/jupyterhub-imagine/api/`` derives from :class:`ImagineAPIHandler`. By
default reads are polls (they do not move the server's ``last_activity``, so a tab that only
polls does not keep an idle server alive) and writes are a person's actions; a handler changes
that with its ``activity`` class attribute (see ``upstream/jupyter_server.py``).
"""

from __future__ import annotations

import json
from typing import Any

from ..upstream.jupyter_server import Activity, ActivityRuleHandler
from .validation import UserError, error_payload, parse_json_object

# Custom authorization resource: a read-only or shared identity can be granted "read" on it
# without being able to mount data or install kernels ("write").
AUTH_RESOURCE = "jupyterhub_imagine"

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

__all__ = ["AUTH_RESOURCE", "Activity", "ImagineAPIHandler", "NoRouteHandler", "PollingHandler"]


class ImagineAPIHandler(ActivityRuleHandler):
    """Base for every route under /jupyterhub-imagine/api/."""

    auth_resource = AUTH_RESOURCE
    activity = Activity.WRITES

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

    def query(self, name: str) -> str | None:
        """One query argument (the last one if repeated), exactly as sent: neither stripped
        nor with control characters turned into spaces (as tornado's getters do), so that such
        a value is refused by validation rather than silently changed."""
        values = self.request.query_arguments.get(name)
        return self.decode_argument(values[-1], name) if values else None


class NoRouteHandler(ImagineAPIHandler):
    """Registered last under the API prefix, so an unknown route gets a JSON 404 too."""

    activity = Activity.NONE

    async def prepare(self) -> None:  # type: ignore[override]
        # jupyter-server's own preparation first (host check, identity), as its 404 handler does
        await super().prepare()
        raise UserError(
            f"there is no API route {self.request.path[:200]!r}; see the server API docs",
            "no-route",
            status=404,
        )


# Deprecated names of the same base, kept for one release (handler modules written against
# them keep working): reads were already polls for both; set `activity` instead.
PollingHandler = ImagineAPIHandler
