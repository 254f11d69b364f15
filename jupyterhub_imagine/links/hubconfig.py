"""Hub-side wiring of launch links: call :func:`wire_links` in ``jupyterhub_config.py``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traitlets.config import Config

TEMPLATES = str(Path(__file__).resolve().parent / "templates")


def _value(section: Any, name: str, initial: Any) -> Any:
    value = section.get(name, initial)
    return value.get_value(initial) if hasattr(value, "get_value") else value


class LinksConfigError(ValueError):
    """Launch links are configured in a way the hub cannot serve; the message says what to set."""


def wire_links(c: Config, which: Callable[[str], str | None] = shutil.which) -> None:
    """Add the launch-link pages (``/hub/imagine/launch``, ``/hub/imagine/v2/...``) and their
    templates to the hub's configuration; settings are ``c.ImagineLinks.*``.

    Raises :class:`LinksConfigError` when ``ImagineLinks.check_refs`` is on and git is not on
    the hub's PATH (``which`` finds it; tests pass another lookup)."""
    from .handlers import handlers

    links = c.ImagineLinks
    if not _value(links, "enabled", True):
        return
    if _value(links, "check_refs", True) and not which("git"):
        raise LinksConfigError(
            "ImagineLinks.check_refs is on, but git is not on the hub's PATH: install git in "
            "the hub image, or set c.ImagineLinks.check_refs = False (links to refs that do not "
            "exist then fail in the user's server instead of on the confirmation page)."
        )
    hub = c.JupyterHub
    existing = list(_value(hub, "extra_handlers", []))
    hub.extra_handlers = existing + [h for h in handlers() if h not in existing]
    paths = list(_value(hub, "template_paths", []))
    if TEMPLATES not in paths:
        hub.template_paths = [*paths, TEMPLATES]
