"""ImagineLocalSpawner: the same GPU profiles on one machine, GPUs handed out by NVML UUID."""

from __future__ import annotations

import os
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Callable, Dict, List, Unicode, Union, default

from ..gpu.nvml import GPUDevice, NVMLReader, load_nvml
from . import config_checks
from . import profiles as pm
from .form import Availability, SpawnFormMixin
from .local_profiles import candidates_for, derive_profiles
from .mixin import QUOTA_BOOK, ImagineSpawnerMixin

_INVENTORY: dict[str, list[GPUDevice]] = {}


def _options_applied_at_start(spawner: Any, user_options: dict[str, Any]) -> None:
    """JupyterHub's apply_user_options hook: nothing to do before start()."""


class ImagineLocalSpawner(ImagineSpawnerMixin, SpawnFormMixin, LocalProcessSpawner):
    """Runs user servers as local processes, each with the GPUs of its profile."""

    @classmethod
    def config_problems(cls, config: Any) -> list[str]:
        """What in ``config`` would fail this spawner, each naming ``Class.trait``."""
        return config_checks.local_problems(config, cls)

    profile_list = Union(
        [List(), Dict(), Callable()],
        default_value=[],
        config=True,
        help="""Profiles in KubeSpawner's format plus `gpu` and `requires` (see the docs).

        Empty (the default): derived from the machine's GPUs found through NVML, with a CPU-only
        profile first; only the CPU profile when there is no GPU.""",
    )
    nvml_module = Unicode(
        "pynvml",
        config=True,
        help="Python module providing the NVML API. Only tests change this, to a fake module.",
    )
    gpu_requires = List(
        Unicode(),
        default_value=["gpu"],
        config=True,
        help="`requires` of the GPU profiles derived from NVML (capabilities or group names).",
    )
    default_profile = Unicode(
        "",
        config=True,
        help="""Slug of the profile preselected in the form and used when a spawn names none
        (e.g. "cpu"). Empty: the profile marked `default`, else the first one. An unknown slug
        stops the hub at start-up.""",
    )
    home_dir_template = Unicode(
        "",
        config=True,
        help="""When set (e.g. `/tmp/imagine/{username}`), servers run as the hub's own system user
        in this directory instead of as a system user per hub user. For demos and tests only:
        it gives no isolation between users.""",
    )

    @default("options_form")
    def _options_form_default(self) -> Any:
        return ImagineLocalSpawner._render_options_form

    @default("apply_user_options")
    def _apply_user_options_default(self) -> Any:
        # the options are validated and applied in start() (resolve_selection); saying so
        # keeps JupyterHub from logging "Received unhandled user_options" at every spawn
        return _options_applied_at_start

    # ----- inventory ----------------------------------------------------------------------------
    def _inventory(self) -> list[GPUDevice]:
        if self.nvml_module not in _INVENTORY:
            reader = NVMLReader(load_nvml(self.nvml_module))
            _INVENTORY[self.nvml_module] = reader.devices(details=False)
            if reader.error:
                self.log.info("No GPUs for local servers: %s", reader.error)
            reader.shutdown()
        return _INVENTORY[self.nvml_module]

    def static_profiles(self) -> list[pm.Profile] | None:
        """The configured (or derived) profiles, or None when ``profile_list`` is a callable."""
        raw = self.profile_list
        if callable(raw):
            return None
        if not raw:
            profiles = derive_profiles(self._inventory(), list(self.gpu_requires))
        else:
            profiles = pm.parse_profiles(raw)
        return pm.with_default(profiles, self.default_profile)

    async def load_profiles(self) -> list[pm.Profile]:
        profiles = self.static_profiles()
        if profiles is None:
            raw = await self._maybe_await(self.profile_list(self))
            profiles = pm.with_default(pm.parse_profiles(raw), self.default_profile)
        return profiles

    # ----- availability and the form ----------------------------------------------------------
    def _availability(self, profiles: list[pm.Profile]) -> dict[str, Availability]:
        result = {}
        for p in profiles:
            if not p.gpu.is_gpu:
                continue
            candidates = candidates_for(p.gpu, self._inventory())
            free = len(QUOTA_BOOK.free_devices(candidates))
            unit = "MIG slices" if p.gpu.mig else "GPUs"
            result[p.slug] = Availability(free, len(candidates), unit)
        return result

    async def _render_options_form(self) -> str:
        visible = pm.visible_profiles(await self.load_profiles(), await self.entitlements())
        availability = self._availability(visible)
        unavailable = {}
        for p in visible:
            avail = availability.get(p.slug)
            if avail is not None and avail.free < p.gpu.count:
                unavailable[p.slug] = f"full: needs {p.gpu.count}, {avail.free} free"
        preselect = str((self.user_options or {}).get("profile") or "")
        return self.render_form(visible, availability, unavailable, preselect)

    # ----- start: devices picked from those no other server of the hub holds -------------------
    async def _allocate(self, selection: pm.Selection) -> tuple[str, ...]:
        """Quota, then free devices, checked and recorded without an await in between."""
        gpu = selection.profile.gpu
        if not gpu.is_gpu:
            return ()
        groups = sorted(await self.entitlements())
        free = QUOTA_BOOK.free_devices(candidates_for(gpu, self._inventory()), but=self.server_key)
        devices = tuple(free[: gpu.count])
        reason = QUOTA_BOOK.try_acquire(
            self.server_key, self.user.name, groups, gpu.count, self.quota_limits(), devices
        )
        if reason:
            raise self.refuse(reason, reason="quota", status_code=403)
        if len(devices) < gpu.count:
            QUOTA_BOOK.release(self.server_key)
            raise self.refuse(
                f"No {gpu.label()} is free right now for profile "
                f"{selection.profile.display_name!r}; try again later or pick another profile.",
                reason="capacity",
                status_code=409,
            )
        return devices

    async def start(self) -> Any:
        selection = await self.resolve_selection(self.user_options or {})
        devices = await self._allocate(selection)
        self._gpu_deadline = self.gpu_deadline_for(selection.profile.gpu)
        self._imagine_env = {
            "CUDA_VISIBLE_DEVICES": ",".join(devices),
            "JUPYTERHUB_IMAGINE_PROFILE": selection.profile.slug,
            **{k: str(v) for k, v in (selection.profile.raw.get("environment") or {}).items()},
        }
        if self._gpu_deadline:
            self._imagine_env["JUPYTERHUB_IMAGINE_GPU_DEADLINE"] = str(int(self._gpu_deadline))
        return await super().start()

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(getattr(self, "_imagine_env", {"CUDA_VISIBLE_DEVICES": ""}))
        return env

    # ----- running as the hub's own user (demo/test mode) -------------------------------------
    @property
    def _home(self) -> str:
        return self.home_dir_template.format(username=self.user.name)

    def make_preexec_fn(self, name: str) -> Any:
        if not self.home_dir_template:
            return super().make_preexec_fn(name)
        home = self._home

        def preexec() -> None:
            os.makedirs(home, 0o700, exist_ok=True)
            os.chdir(home)

        return preexec

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        if not self.home_dir_template:
            return super().user_env(env)
        env.update(USER=self.user.name, HOME=self._home, SHELL="/bin/bash")
        return env

    def move_certs(self, paths: Any) -> Any:
        return paths if self.home_dir_template else super().move_certs(paths)
