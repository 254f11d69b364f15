"""ImagineKubeSpawner: KubeSpawner with GPU profiles, live availability, quotas and progress."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, fields
from typing import Any

from kubespawner import KubeSpawner
from traitlets import Bool, Callable, Dict, Enum, Float, List, Unicode, Union, default, validate

from ..upstream.kubespawner import apply_override, format_unlisted
from . import config_checks
from . import profiles as pm
from .availability import _SHARED, ClusterWatcher, shared_watcher
from .cluster_state import unit
from .form import Availability, SpawnFormMixin
from .mixin import QUOTA_BOOK, ImagineSpawnerMixin
from .placement import AVOID_MODES, PlacementPolicy, PodTraits, place
from .progress import describe, first_message
from .quota import QuotaLimits

__all__ = ["QUOTA_BOOK", "ImagineKubeSpawner"]


def _default_choice(spec: dict[str, Any]) -> str | None:
    choices = spec.get("choices") or {}
    marked = [k for k, c in choices.items() if (c or {}).get("default")]
    return (marked or list(choices) or [None])[0]


class ImagineKubeSpawner(ImagineSpawnerMixin, SpawnFormMixin, KubeSpawner):
    """KubeSpawner whose profiles carry `gpu` and `requires` (see docs/spawner.md)."""

    @classmethod
    def config_problems(cls, config: Any) -> list[str]:
        """What in ``config`` would fail this spawner, each naming ``Class.trait``."""
        return config_checks.kube_problems(config, cls)

    # KubeSpawner 7.0 (Z2JH 4.4) takes a list only; the dict form keyed by slug came in 7.1.
    # Both go through profiles.parse_profiles, never through KubeSpawner's own profile code.
    profile_list = Union(
        [List(trait=Dict()), Dict(), Callable()],
        default_value=[],
        config=True,
        help="""Profiles in KubeSpawner's format plus `gpu` and `requires` (docs/spawner.md): a
        list, a dict keyed by slug (also with KubeSpawner 7.0), or a callable returning either.""",
    )
    gpu_product_label = Unicode(
        "nvidia.com/gpu.product",
        config=True,
        help="""Node label whose value is a profile's `gpu.type` (NVIDIA GPU feature discovery
        sets `nvidia.com/gpu.product`; on GKE e.g. `cloud.google.com/gke-accelerator`). Empty:
        the cluster has no such label, so profiles may not set `gpu.type` (select nodes with the
        profile's `kubespawner_override.node_selector` instead) and CPU pods are not steered.""",
    )
    gpu_tolerations = List(
        default_value=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        config=True,
        help="""Tolerations added to pods of GPU profiles only (GPU nodes are usually tainted so
        that nothing else lands there). CPU pods lose any toleration for `nvidia.com/*` keys.""",
    )
    cpu_avoid_gpu_nodes = Union(
        [Enum(AVOID_MODES), Bool()],
        default_value="preferred",
        config=True,
        help="""How pods of CPU profiles keep off nodes that have `gpu_product_label`:
        "preferred" (default; a preferred node affinity, so they still start on clusters where
        every node has the label), "required" (a required node affinity: never on a GPU node),
        or "off". `true` means "preferred", `false` "off".""",
    )
    gpu_runtime_class_name = Unicode(
        "",
        config=True,
        help="""`runtimeClassName` of pods of GPU profiles, e.g. "nvidia" where the NVIDIA
        container runtime is not the node's default (k3s, RKE2, some GPU operator installs).
        Empty: the node's default runtime. A profile sets its own through its
        `kubespawner_override: {gpu_runtime_class_name: ...}`. CPU pods never get it.""",
    )

    @validate("cpu_avoid_gpu_nodes")
    def _avoid_mode(self, proposal: Any) -> str:
        value = proposal["value"]
        if isinstance(value, bool):
            return "preferred" if value else "off"
        return str(value)

    availability_enabled = Bool(
        True,
        config=True,
        help="""Watch nodes and pods of all namespaces to show free GPUs in the form and refuse
        at once a spawn that cannot be placed. Needs a ClusterRole with list and watch on nodes
        and pods; without it spawning works, without availability.""",
    )
    availability_sync_timeout = Float(
        5.0,
        config=True,
        help="Seconds the form and a spawn wait for the first list of nodes and pods.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Values of the config traits a group or profile override changed, as they were before,
        # restored before each spawn so nothing of an earlier spawn (a GPU, a toleration) leaks
        # into the next one; and all config values as this spawn began, to find what it changed.
        self._imagine_baseline: dict[str, Any] = {}
        self._imagine_before: dict[str, Any] = {}
        self._imagine_restored = False
        self._imagine_gpu = pm.GPURequest()
        self._imagine_selected = False
        super().__init__(*args, **kwargs)

    # ----- overrides without leaks ------------------------------------------------------------
    def _config_values(self) -> dict[str, Any]:
        values = {}
        for name in self.trait_names(config=True):
            try:
                values[name] = copy.deepcopy(getattr(self, name))
            except Exception:  # a value that cannot be copied is one no override sets
                continue
        return values

    def _restore_baseline(self) -> None:
        """Config traits an earlier spawn's overrides changed back to their values before."""
        for name, value in self._imagine_baseline.items():
            setattr(self, name, copy.deepcopy(value))
        self._imagine_before = self._config_values()
        self._imagine_restored = True

    def _remember_changes(self) -> None:
        """After this spawn's overrides: remember the values they replaced, to restore them."""
        for name, before in self._imagine_before.items():
            if name not in self._imagine_baseline and getattr(self, name) != before:
                self._imagine_baseline[name] = before

    async def apply_group_overrides(self) -> None:
        self._restore_baseline()  # JupyterHub calls this first in each spawn
        await super().apply_group_overrides()

    # ----- profiles and the form --------------------------------------------------------------
    async def load_profiles(self) -> list[pm.Profile]:
        raw = self.profile_list
        if callable(raw):
            raw = await self._maybe_await(raw(self))
        return pm.parse_profiles(raw or [])

    def _policy(self) -> PlacementPolicy:
        return PlacementPolicy(
            self.gpu_product_label,
            tuple(self.gpu_tolerations),
            str(self.cpu_avoid_gpu_nodes),
            self.gpu_runtime_class_name,
        )

    async def watcher(self) -> ClusterWatcher | None:
        """The shared availability watcher once it has listed nodes and pods, else None."""
        if not self.availability_enabled:
            return None
        w = shared_watcher(self.api, self.gpu_product_label, self.log)
        if w.synced or await w.wait_synced(self.availability_sync_timeout):
            return w
        self.log.warning("GPU availability unknown for %s: %s", self.server_label, w.error)
        return None

    async def render_imagine_form(self) -> str:
        visible = pm.visible_profiles(await self.load_profiles(), await self.entitlements())
        availability: dict[str, Availability] = {}
        unavailable: dict[str, str] = {}
        w = await self.watcher() if any(p.gpu.is_gpu for p in visible) else None
        for p in visible:
            if w is None or not p.gpu.is_gpu:
                continue
            cap = w.state.capacity(p.gpu)
            availability[p.slug] = Availability(cap.free, cap.total, unit(p.gpu))
            reason = w.state.refusal(p.gpu, unit(p.gpu))
            if reason:
                unavailable[p.slug] = reason
        preselect = str((self.user_options or {}).get("profile") or "")
        return self.render_form(visible, availability, unavailable, preselect)

    @default("options_form")
    def _imagine_options_form_default(self) -> Any:
        async def render(spawner: ImagineKubeSpawner) -> str:
            return await spawner.render_imagine_form()

        return render

    # ----- applying a selection ---------------------------------------------------------------
    def _apply_profile(self, selection: pm.Selection) -> None:
        """The profile's kubespawner_override, then those of its option choices."""
        profile = selection.profile
        apply_override(self, profile.raw.get("kubespawner_override") or {})
        for name, spec in profile.options.items():
            value = selection.options.get(name) or _default_choice(spec)
            if value is None:
                continue
            if pm.is_listed_choice(profile, name, value):
                override = spec["choices"][value].get("kubespawner_override") or {}
            else:
                unlisted = (spec.get("unlisted_choice") or {}).get("kubespawner_override") or {}
                override = format_unlisted(unlisted, value)
            apply_override(self, override)

    def _apply_placement(self, profile: pm.Profile, deadline: float) -> None:
        names = [f.name for f in fields(PodTraits)]
        current = PodTraits(**{n: copy.deepcopy(getattr(self, n)) for n in names})
        for name, value in asdict(place(profile.gpu, current, self._policy(), profile.slug,
                                        deadline)).items():
            setattr(self, name, value)

    async def load_user_options(self) -> None:
        if not self._imagine_restored:  # started without JupyterHub's spawn (tests, API users)
            self._restore_baseline()
        self._imagine_restored = self._imagine_selected = False
        try:
            selection = await self.resolve_selection(self.user_options or {})
            # Limits as set by config and group_overrides; a profile's overrides cannot lift them.
            limits = self.quota_limits()
            self._apply_profile(selection)
            gpu = selection.profile.gpu
            deadline = self.gpu_deadline_for(gpu)
            # After the profile: its overrides cannot undo the GPU request, placement or quota.
            self._apply_placement(selection.profile, deadline)
        finally:
            self._remember_changes()
        await self._claim(selection.profile, sorted(await self.entitlements()), limits)
        self._imagine_gpu, self._gpu_deadline = gpu, deadline
        self._imagine_selected = True

    async def _claim(self, profile: pm.Profile, groups: list[str], limits: QuotaLimits) -> None:
        """Quota, then capacity: both checked and recorded without an await in between."""
        gpu = profile.gpu
        w = await self.watcher() if gpu.is_gpu else None
        reason = QUOTA_BOOK.try_acquire(
            self.server_key, self.user.name, groups, gpu.count, limits
        )
        if reason:
            raise self.refuse(reason, reason="quota", status_code=403)
        if w is None:
            return
        pod_key = f"{self.namespace}/{self.pod_name}"
        w.state.expire(time.time())
        refusal = w.state.refusal(gpu, unit(gpu))
        if refusal:
            QUOTA_BOOK.release(self.server_key)
            raise self.refuse(
                f"Profile {profile.display_name!r}: {refusal}", reason="capacity", status_code=409
            )
        w.state.reserve(pod_key, gpu, time.time())

    def release_gpus(self) -> None:
        super().release_gpus()
        for w in [w for w in _SHARED.values() if w.api is self.api]:
            w.state.unreserve(f"{self.namespace}/{self.pod_name}")

    # ----- progress -----------------------------------------------------------------------------
    async def _selected_gpu(self, timeout: float = 10.0) -> pm.GPURequest:
        """The GPU of the profile this spawn is loading (progress may begin before that)."""
        deadline = time.monotonic() + timeout
        while not self._imagine_selected and time.monotonic() < deadline:
            if self._imagine_start is not None and self._imagine_start.done():
                break
            await asyncio.sleep(0.05)
        return self._imagine_gpu

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        gpu = await self._selected_gpu()
        if gpu.is_gpu:
            w = await self.watcher()
            cap = w.state.capacity(gpu) if w else None
            text = Availability(cap.free, cap.total, unit(gpu)).text() if cap else ""
            yield first_message(gpu.label(), text)
        progress = 5
        async for event in super().progress():
            mapped = describe(event.get("raw_event") or {}, gpu.is_gpu)
            if mapped:
                progress = max(progress, mapped["progress"])
                event = {**event, "message": mapped["message"], "progress": progress}
            yield event
