"""Server side of the idle-GPU culler: the per-server state (``state``), its REST handlers
(``handlers``) and presence seen by the server from any client (``presence``)."""

from __future__ import annotations

from .state import CullingError, CullingState

__all__ = ["CullingError", "CullingState"]
