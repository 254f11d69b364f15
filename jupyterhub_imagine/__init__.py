"""jupyterhub-imagine: a JupyterHub bundle for research platforms."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyterhub-imagine"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .serverext.app import ImagineServerExtension

    return [{"module": "jupyterhub_imagine.serverext.app", "app": ImagineServerExtension}]
