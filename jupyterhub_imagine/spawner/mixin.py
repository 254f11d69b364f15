"""What both spawners share: who may use which profile, quotas, GPU session length, and the
record of which GPUs a server holds (its spawner state in the hub database), with the stop, poll
and failed-start code that releases them."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

from traitlets import Dict, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from .. import contract
from ..upstream.jupyterhub import keep_out_of_failure_count
from . import profiles as pm
from .compat import SpawnRefused, query_options
from .quota import Holding, QuotaBook, QuotaLimits

# What the hub's spawners hold, one book per hub process. Each spawner's own record is its state
# in the hub database (get_state); load_state puts it back here when the hub restarts, so the
# book always knows the GPUs of every running server. Every check-and-record happens in the
# hub's event loop without an await in between, which makes quota and device choices atomic.
QUOTA_BOOK = QuotaBook()


class ImagineSpawnerMixin(LoggingConfigurable):
    """Gating, option validation, quotas, session length and GPU records for both spawners.

    The host class (a Spawner) provides ``load_profiles()``, ``user`` and ``name``; a spawner
    records what it takes in ``QUOTA_BOOK`` under ``server_key``.
    """

    user: Any
    name: str

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
        A spawn needs room in every listed group the user belongs to.""",
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
    _imagine_start: asyncio.Future[Any] | None = None

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

    # ----- the GPU record: spawner state, indexed in QUOTA_BOOK ---------------------------------
    @property
    def server_key(self) -> str:
        """``user/server`` (``user/`` for the default server): the key of this server's GPUs."""
        return f"{self.user.name}/{self.name}"

    @property
    def server_label(self) -> str:
        """This server's name in log messages."""
        return f"{self.user.name}:{self.name}" if self.name else str(self.user.name)

    def release_gpus(self) -> None:
        """Forget this server's GPUs and session deadline (stopped, or its start failed)."""
        if QUOTA_BOOK.release(self.server_key):
            self.log.info("Released GPUs of %s", self.server_label)
        self._gpu_deadline = 0.0

    def start(self) -> Any:
        """The host's start, releasing this server's GPUs when it fails or is cancelled."""
        future = asyncio.ensure_future(super().start())  # type: ignore[misc]
        self._imagine_start = future
        future.add_done_callback(self._release_unless_started)
        return future

    def _release_unless_started(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.release_gpus()

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)  # type: ignore[misc]
        finally:
            self.release_gpus()

    async def poll(self) -> int | None:
        status: int | None = await super().poll()  # type: ignore[misc]
        if status is not None:
            self.release_gpus()
        elif self.gpu_session_expired():
            self.log.info("Stopping %s: GPU session reached its maximum length", self.server_label)
            await self.stop(now=True)
            return 0
        return status

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()  # type: ignore[misc]
        holding = QUOTA_BOOK.holdings.get(self.server_key)
        if holding:
            state["imagine_gpus"] = holding.gpus
            state["imagine_groups"] = sorted(holding.groups)
            if holding.devices:
                state["imagine_devices"] = list(holding.devices)
        if self._gpu_deadline:
            state["imagine_gpu_deadline"] = self._gpu_deadline
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)  # type: ignore[misc]
        gpus = int(state.get("imagine_gpus") or 0)
        if gpus:
            groups = frozenset(state.get("imagine_groups") or [])
            devices = tuple(state.get("imagine_devices") or ())
            QUOTA_BOOK.restore(self.server_key, Holding(self.user.name, groups, gpus, devices))
        self._gpu_deadline = float(state.get("imagine_gpu_deadline") or 0)

    def clear_state(self) -> None:
        super().clear_state()  # type: ignore[misc]
        self._gpu_deadline = 0.0
