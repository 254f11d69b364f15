"""What both spawners share: who may use which profile, and turning options into a selection."""

from __future__ import annotations

import inspect
from typing import Any

from jupyterhub.spawner import SpawnException

from . import profiles as pm


class ImagineSpawnerMixin:
    """Gating and option validation; the host class provides ``load_profiles()``."""

    user: Any
    log: Any

    async def load_profiles(self) -> list[pm.Profile]:  # pragma: no cover - overridden
        raise NotImplementedError

    @staticmethod
    async def _maybe_await(value: Any) -> Any:
        return await value if inspect.isawaitable(value) else value

    async def entitlements(self) -> set[str]:
        """Capability names and group names of the user, from auth state and hub groups."""
        names = {g.name for g in getattr(self.user, "groups", [])}
        try:
            auth_state = await self.user.get_auth_state() or {}
        except Exception as exc:  # no crypt key: groups alone decide
            self.log.debug("No auth state for %s: %s", self.user.name, exc)
            auth_state = {}
        imagine = auth_state.get("imagine") or {}
        names.update(imagine.get("capabilities") or [])
        names.update(imagine.get("groups") or [])
        return names

    async def resolve_selection(self, user_options: dict[str, Any]) -> pm.Selection:
        """Validate options again at start: an API call or a crafted link bypasses the form."""
        try:
            return pm.select(await self.load_profiles(), user_options, await self.entitlements())
        except pm.BadSpawnOptions as exc:
            raise SpawnException(str(exc), reason="options", status_code=400) from None

    async def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        options = pm.options_from_form(formdata)
        await self.resolve_selection(options)
        return options
