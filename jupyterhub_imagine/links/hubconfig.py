"""Hub-side wiring of launch links: call :func:`wire_links` in ``jupyterhub_config.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from traitlets.config import Config

TEMPLATES = str(Path(__file__).resolve().parent / "templates")


def _value(section: Any, name: str, initial: Any) -> Any:
    value = section.get(name, initial)
    return value.get_value(initial) if hasattr(value, "get_value") else value


def wire_links(c: Config) -> None:
    """Add the launch-link pages (``/hub/imagine/launch``, ``/hub/imagine/v2/...``) and their
    templates to the hub's configuration; settings are ``c.ImagineLinks.*``."""
    from .handlers import handlers

    hub = c.JupyterHub
    existing = list(_value(hub, "extra_handlers", []))
    hub.extra_handlers = existing + [h for h in handlers() if h not in existing]
    paths = list(_value(hub, "template_paths", []))
    if TEMPLATES not in paths:
        hub.template_paths = [*paths, TEMPLATES]
