"""wire_accounting(c): hooks set through config only, chained after the admin's own, and a
missing key stops the configuration with an error naming the setting."""

from __future__ import annotations

import asyncio

import pytest
from traitlets.config import Config

from jupyterhub_imagine.accounting import hooks
from jupyterhub_imagine.accounting.config import AccountingConfigError


def test_hooks_are_set_and_chained_after_existing_ones(monkeypatch):
    calls = []
    monkeypatch.setattr(hooks, "pre_spawn_hook", lambda s: calls.append(("acct", s)) or _done())
    c = Config()
    c.ImagineAccounting.pseudonym_key = "k" * 32
    c.Spawner.pre_spawn_hook = lambda s: calls.append(("mine", s))
    hooks.wire_accounting(c)
    asyncio.run(c.Spawner.pre_spawn_hook("spawner"))
    assert calls == [("mine", "spawner"), ("acct", "spawner")]
    assert c.Spawner.post_stop_hook is hooks.post_stop_hook


async def _none() -> None:
    return None


def _done():
    return _none()


def test_missing_key_is_a_named_error_at_configuration(monkeypatch):
    monkeypatch.delenv("IMAGINE_ACCOUNTING_KEY", raising=False)
    with pytest.raises(AccountingConfigError, match="ImagineAccounting.pseudonym_key"):
        hooks.wire_accounting(Config())
    monkeypatch.setenv("IMAGINE_ACCOUNTING_KEY", "e" * 32)
    hooks.wire_accounting(Config())
