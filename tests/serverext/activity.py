"""The server's ``last_activity`` as jupyter-server's public ``GET /api/status`` reports it:
what jupyterhub-singleuser passes to the hub and the hub's idle culler acts on."""

from __future__ import annotations

import json
from typing import Any


async def last_activity(jp_fetch: Any, headers: dict[str, str] | None = None) -> str:
    """``/api/status`` itself is not counted as activity by jupyter-server."""
    kw = {"headers": headers} if headers else {}
    return str(json.loads((await jp_fetch("api", "status", **kw)).body)["last_activity"])
