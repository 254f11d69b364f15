"""What both spawners share: who may use which profile, quotas, and GPU session length."""

from __future__ import annotations

import inspect
import time
from typing import Any

from traitlets import Dict, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from .. import contract
from . import profiles as pm
from .compat import SpawnRefused, keep_out_of_failure_count, query_options
from .quota import QuotaLimits


class ImagineSpawnerMixin(LoggingConfigurable):
    """Gating, option validation, quota and session-length settings shared by both spawners.

    The host class (a Spawner) provides ``load_profiles()``, ``user`` and ``_log_name``.
    """

    user: Any
    _log_name: str

    gpu_quota_per_user = Int(
        0,
        config=True,
        help="""Most GPUs (or MIG slices) one user may hold at once across all their servers,
        named servers included; 0: no limit. See also `gpu_quota_per_group_member`.""",
    )
    gpu_quota_per_group_member = Dict(
        value_trait=Int(),
        key_trait=Unicode(),
        config=True,
        help="""Per-member GPU caps by group, replacing `gpu_quota_per_user` for members, e.g.
        `{"students": 1, "staff": 4}`. A member of several listed groups gets the most generous
        cap; 0 means no limit. Keys are hub groups, auth-state groups or capabilities.""",
    )
    gpu_quota_per_group_total = Dict(
        value_trait=Int(),
        key_trait=Unicode(),
        config=True,
        help="""GPUs all members of a group may hold together, e.g. `{"vo.example.org": 16}`.
        A spawn needs room in every listed group the user belongs to. Kubernetes spawner only.""",
    )
    gpu_max_session_seconds = Int(
        0,
        config=True,
        help="""Longest a server holding a GPU may run, in seconds; 0: no limit. The server is
        stopped at the first poll after the deadline (`Spawner.poll_interval`, default 30 s).
        The server's environment has the deadline as `JUPYTERHUB_IMAGINE_GPU_DEADLINE`
        (Unix time).""",
    )

    culler_service = Unicode(
        config=True,
        help="""Hub service name of the idle-GPU culler, handed to every server (environment
        `JUPYTERHUB_IMAGINE_CULLER_SERVICE`) so that it accepts the culler's warnings. Default:
        the service in `JupyterHub.services` whose command is `jupyterhub-imagine-culler`,
        else 'imagine-culler'.""",
    )

    _gpu_deadline: float = 0.0

    @default("culler_service")
    def _culler_service_default(self) -> str:
        services = self.config.get("JupyterHub", {}).get("services")
        if hasattr(services, "get_value"):  # appended to in config files: a lazy value
            services = services.get_value([])
        return contract.culler_service_from_services(services) or contract.DEFAULT_CULLER_SERVICE

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()  # type: ignore[misc]
        env[contract.ENV_CULLER_SERVICE] = self.culler_service
        return env

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

    def quota_limits(self) -> QuotaLimits:
        return QuotaLimits(
            self.gpu_quota_per_user,
            dict(self.gpu_quota_per_group_member),
            dict(self.gpu_quota_per_group_total),
        )

    def gpu_deadline_for(self, gpu: pm.GPURequest, now: float | None = None) -> float:
        if not gpu.is_gpu or not self.gpu_max_session_seconds:
            return 0.0
        return (time.time() if now is None else now) + self.gpu_max_session_seconds

    def gpu_session_expired(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return bool(self._gpu_deadline) and now >= self._gpu_deadline

    def refuse(self, message: str, *, reason: str, status_code: int) -> SpawnRefused:
        """A refusal to raise inside a spawn: shown as it is, never counted as a hub failure."""
        keep_out_of_failure_count(self)
        return SpawnRefused(message, reason=reason, status_code=status_code)

    async def _select(self, user_options: dict[str, Any]) -> pm.Selection:
        return pm.select(await self.load_profiles(), user_options, await self.entitlements())

    async def resolve_selection(self, user_options: dict[str, Any]) -> pm.Selection:
        """Validate options again at start: an API call or a crafted link bypasses the form."""
        try:
            return await self._select(user_options)
        except pm.BadSpawnOptions as exc:
            raise self.refuse(str(exc), reason="options", status_code=400) from None

    async def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        """Options from the form or a link, refused before the hub starts (and counts) a spawn."""
        try:
            await self._select(options)
        except pm.BadSpawnOptions as exc:
            raise SpawnRefused(str(exc), reason="options", status_code=400) from None
        return options

    async def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        return await self._checked(pm.options_from_form(formdata))

    async def options_from_query(self, query_data: dict[str, list[str]]) -> dict[str, Any]:
        return await self._checked(pm.options_from_query(query_options(query_data)))
