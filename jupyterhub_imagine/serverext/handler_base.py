"""Handler base for the mounts and software APIs: activity rules and query arguments."""

from __future__ import annotations

from .base import ImagineAPIHandler


class ImagineResourceHandler(ImagineAPIHandler):
    """GETs are polls (no activity); writes are user actions and count as activity."""

    @property
    def _track_activity(self) -> bool:  # type: ignore[override]
        return self.request.method not in ("GET", "HEAD")

    def query(self, name: str) -> str | None:
        """One query argument (the last one if repeated), exactly as sent: neither stripped
        nor with control characters turned into spaces (as tornado's getters do), so that such
        a value is refused by validation rather than silently changed."""
        values = self.request.query_arguments.get(name)
        return self.decode_argument(values[-1], name) if values else None
