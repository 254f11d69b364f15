"""ImagineKubeSpawner: KubeSpawner with GPU profiles gated by the user's capabilities."""

from __future__ import annotations

import copy
from typing import Any

from kubespawner import KubeSpawner
from traitlets import Unicode, default

from . import profiles as pm
from .mixin import ImagineSpawnerMixin


def kube_override(profile: pm.Profile, product_label: str) -> dict[str, Any]:
    """The KubeSpawner overrides that request a profile's GPUs, or keep a CPU pod off GPUs."""
    gpu = profile.gpu
    override: dict[str, Any] = copy.deepcopy(dict(profile.raw.get("kubespawner_override") or {}))
    limits = dict(override.get("extra_resource_limits") or {})
    guarantees = dict(override.get("extra_resource_guarantees") or {})
    if gpu.is_gpu:
        limits[gpu.resource] = str(gpu.count)
        guarantees[gpu.resource] = str(gpu.count)
        if gpu.type and not gpu.mig:
            selector = dict(override.get("node_selector") or {})
            selector[product_label] = gpu.type
            override["node_selector"] = selector
    else:
        # A CPU profile must not inherit a GPU request from an earlier spawn of this spawner.
        limits = {k: v for k, v in limits.items() if not k.startswith("nvidia.com/")}
        guarantees = {k: v for k, v in guarantees.items() if not k.startswith("nvidia.com/")}
    override["extra_resource_limits"] = limits
    override["extra_resource_guarantees"] = guarantees
    env = dict(override.get("environment") or {})
    env["JUPYTERHUB_IMAGINE_PROFILE"] = profile.slug
    override["environment"] = env
    return override


class ImagineKubeSpawner(ImagineSpawnerMixin, KubeSpawner):
    """KubeSpawner whose profiles carry `gpu` and `requires` (see the profile docs)."""

    gpu_product_label = Unicode(
        "nvidia.com/gpu.product",
        config=True,
        help="Node label whose value is a profile's `gpu.type` (set by GPU feature discovery).",
    )

    async def load_profiles(self) -> list[pm.Profile]:
        raw = self.profile_list
        if callable(raw):
            raw = await self._maybe_await(raw(self))
        return pm.parse_profiles(raw or [])

    def _kube_profile_list(self, profiles: list[pm.Profile]) -> list[dict[str, Any]]:
        result = []
        for p in profiles:
            raw = {k: v for k, v in p.raw.items() if k not in ("gpu", "requires")}
            raw["kubespawner_override"] = kube_override(p, self.gpu_product_label)
            result.append(raw)
        return result

    @default("options_form")
    def _imagine_options_form_default(self) -> Any:
        async def render(spawner: ImagineKubeSpawner) -> str:
            visible = pm.visible_profiles(await spawner.load_profiles(), await spawner.entitlements())
            return spawner._render_options_form(spawner._kube_profile_list(visible))

        return render

    async def load_user_options(self) -> None:
        selection = await self.resolve_selection(self.user_options or {})
        profile_list = self._get_initialized_profile_list(
            self._kube_profile_list([selection.profile])
        )
        self._validate_user_options(profile_list)
        self._load_profile(selection.profile.slug, profile_list)
