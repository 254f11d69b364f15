"""Spawner hooks an admin sets in jupyterhub_config.py (no spawner subclass needed)."""

from __future__ import annotations

from typing import Any

from .config import ImagineAccounting
from .recorder import AccountingRecorder

_recorders: dict[int, AccountingRecorder] = {}


def recorder_for(spawner: Any) -> AccountingRecorder:
    """One recorder per hub configuration (the spawner carries the hub's config)."""
    key = id(spawner.config)
    if key not in _recorders:
        _recorders[key] = AccountingRecorder(config=spawner.config, parent=None)
    return _recorders[key]


async def pre_spawn_hook(spawner: Any) -> None:
    """``c.Spawner.pre_spawn_hook``: open the session record."""
    await recorder_for(spawner).on_spawn(spawner)


async def post_stop_hook(spawner: Any) -> None:
    """``c.Spawner.post_stop_hook``: close the session record."""
    await recorder_for(spawner).on_stop(spawner)


def _chain(first: Any, second: Any) -> Any:
    async def both(spawner: Any) -> None:
        result = first(spawner)
        if hasattr(result, "__await__"):
            await result
        await second(spawner)

    return both


def wire_accounting(c: Any) -> None:
    """Set both hooks on ``c.Spawner``, after any hooks already configured there.

    The pseudonym key must be known by now (``c.ImagineAccounting.pseudonym_key`` set above
    this call, or $IMAGINE_ACCOUNTING_KEY), so that a missing key stops the hub at start-up
    rather than failing every spawn."""
    ImagineAccounting(config=c).key()  # raises AccountingConfigError naming the setting
    for name, hook in (("pre_spawn_hook", pre_spawn_hook), ("post_stop_hook", post_stop_hook)):
        existing = c.Spawner.get(name) if name in c.Spawner else None
        setattr(c.Spawner, name, _chain(existing, hook) if existing else hook)
