"""Hub-side recording: Spawner hooks that open and close session records.

Wire it in ``jupyterhub_config.py`` with one line (see docs/accounting.md)::

    from jupyterhub_imagine.accounting.hooks import wire_accounting; wire_accounting(c)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from jupyterhub.utils import isoformat
from traitlets import Any as AnyTrait
from traitlets import Float, Instance
from traitlets.config import LoggingConfigurable

from . import identity
from .config import ImagineAccounting
from .energy import NVMLEnergyMeter, visible_uuids
from .spawninfo import resources
from .store import AccountingStore, SessionStart


def _label(spawner: Any) -> str:
    """A server's name in log messages (``user`` or ``user:server``), from public attributes."""
    name = getattr(spawner, "name", "") or ""
    return f"{spawner.user.name}:{name}" if name else str(spawner.user.name)


class AccountingRecorder(LoggingConfigurable):
    """Writes one record per server session from the hub's spawner hooks."""

    settings = Instance(
        ImagineAccounting, allow_none=True, help="The accounting settings (default: the instance)."
    )
    clock: Callable[[], float] = AnyTrait(time.time)  # type: ignore[assignment]
    ready_poll_seconds = Float(
        1.0, config=True, help="How often a starting server is checked for readiness."
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.settings is None:
            self.settings = ImagineAccounting.instance(config=self.config)
        self.conf: ImagineAccounting = self.settings
        self._key = self.conf.key()
        self._store: AccountingStore | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        module = self.conf.energy_nvml_module
        self._meter = NVMLEnergyMeter(module) if module else None

    async def _energy(self, spawner: Any) -> float | None:
        """The summed energy counter (J) of the server's GPUs, when a meter can read it."""
        if self._meter is None:
            return None
        uuids = visible_uuids(spawner.get_env())
        return await asyncio.to_thread(self._meter.joules, uuids)

    @property
    def store(self) -> AccountingStore:
        if self._store is None:
            self._store = AccountingStore(self.conf.db_url)
        return self._store

    def _keys(self, spawner: Any) -> tuple[str, str]:
        user = spawner.user.name
        return (identity.pseudonym(self._key, user),
                identity.server_pseudonym(self._key, user, spawner.name or ""))

    async def _who(self, spawner: Any) -> tuple[str, str]:
        try:
            auth_state = await spawner.user.get_auth_state() or {}
        except Exception:  # no auth state (no crypt key, or an authenticator without one)
            auth_state = {}
        imagine = auth_state.get("imagine") or {}
        groups = list(imagine.get("groups") or [])
        groups += sorted(g.name for g in getattr(spawner.user, "groups", []) or [])
        community = identity.community(
            groups, self.conf.communities, self.conf.community_depth
        )
        claims = auth_state.get("oauth_user") or {}
        country = identity.country(
            claims, self.conf.country_claim, self.conf.organisation_claims
        )
        return community, country

    async def on_spawn(self, spawner: Any) -> None:
        """Open a record; runs as ``Spawner.pre_spawn_hook`` (the hub's start stamp is set)."""
        user_key, server_key = self._keys(spawner)
        community, country = await self._who(spawner)
        res = await resources(spawner, self.conf.default_cpus)
        start = SessionStart(
            user_key=user_key, server_key=server_key, community=community, country=country,
            profile=res.profile, start_ts=self.clock(), cpus=res.cpus, mem_bytes=res.mem_bytes,
            gpus=res.gpus, gpu_type=res.gpu_type, mig=res.mig,
            hub_started=isoformat(spawner.orm_spawner.started),
        )
        await asyncio.to_thread(self.store.open_session, start)
        self.log.info("Accounting: session of %s opened (%s)", _label(spawner), res.profile)
        task = asyncio.ensure_future(self._watch_ready(spawner, user_key, server_key))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch_ready(self, spawner: Any, user_key: str, server_key: str) -> None:
        """Note when the server first answers, and the resources the spawner settled on
        (KubeSpawner applies profile overrides inside start())."""
        deadline = self.clock() + float(getattr(spawner, "start_timeout", 60) or 60) + 60
        while self.clock() < deadline:
            if spawner.ready:
                res = await resources(spawner, self.conf.default_cpus)
                await asyncio.to_thread(
                    self.store.set_started, user_key, server_key,
                    isoformat(spawner.orm_spawner.started),
                    ready_ts=self.clock(), cpus=res.cpus, mem_bytes=res.mem_bytes,
                    energy_counter_j=await self._energy(spawner),
                )
                return
            if not spawner.pending:
                return  # the start failed: the stop hook closes the record
            await asyncio.sleep(self.ready_poll_seconds)

    async def on_stop(self, spawner: Any) -> None:
        """Close the record; runs as ``Spawner.post_stop_hook``."""
        user_key, server_key = self._keys(spawner)
        rows = await asyncio.to_thread(self._open_row, user_key, server_key)
        if rows and rows[0]["ready_ts"] is None:
            reason, detail = "failure", "the server stopped before it was ever ready"
        else:
            reason, detail = "user", "stopped through the hub (user or admin)"
        energy = None
        start = rows[0]["energy_counter_j"] if rows else None
        if start is not None:
            now = await self._energy(spawner)
            energy = now - start if now is not None and now >= start else None
        n = await asyncio.to_thread(
            self.store.close_session, user_key, server_key, self.clock(), reason, detail,
            energy,
        )
        self.log.info("Accounting: session of %s closed (%s, %d record)", _label(spawner),
                      reason, n)

    def _open_row(self, user_key: str, server_key: str) -> list[dict[str, Any]]:
        from .schema import sessions

        c = sessions.c
        return self.store.rows(
            (c.user_key == user_key) & (c.server_key == server_key) & c.stop_ts.is_(None)
        )
