"""Handler base for the mounts and software APIs: JSON errors from UserError, activity rules."""

from __future__ import annotations

import json
from typing import Any

from .base import ImagineAPIHandler
from .validation import error_payload


class ImagineResourceHandler(ImagineAPIHandler):
    """GETs are polls (no activity); writes are user actions and count as activity."""

    @property
    def _track_activity(self) -> bool:  # type: ignore[override]
        return self.request.method not in ("GET", "HEAD")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        self.finish(json.dumps(error_payload(exc, status_code, self._reason)))

    def query(self, name: str) -> str | None:
        """One query argument (the last one if repeated)."""
        return self.get_query_argument(name, None)
