"""Start-up checks of the spawners' profile and quota settings, each naming ``Class.trait``.

The spawners own them (``config_problems`` on each class); the hub runs them at start-up through
``startup.spawner_config_problems`` so that a bad profile stops the hub, not a user's spawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from traitlets.config import Config

from ..auth.entitlements import LEGACY_ROLE_NS, legacy_role_message
from . import profiles as pm

_LIMITS = ("gpu_quota_per_user", "gpu_max_session_seconds")
_GROUP_LIMITS = ("gpu_quota_per_group_member", "gpu_quota_per_group_total")


def local_problems(config: Config, spawner_class: Any) -> list[str]:
    """The local spawner: limits, and the profiles it derives from the configuration."""
    name = spawner_class.__name__
    problems = limit_problems(config, name)
    try:
        profiles = spawner_class(config=config).static_profiles()
    except pm.ProfileConfigError as exc:
        return [*problems, f"{name}.{exc}"]
    return problems + retired_requires(name, profiles)


def kube_problems(config: Config, spawner_class: Any) -> list[str]:
    """The Kubernetes spawner: limits, ``profile_list`` and the GPU product label."""
    section = config.get("ImagineKubeSpawner", {})
    problems = limit_problems(config, "ImagineKubeSpawner")
    raw = section.get("profile_list") or config.get("KubeSpawner", {}).get("profile_list")
    if not raw or callable(raw):
        return problems
    try:
        profiles = pm.parse_profiles(raw)
    except pm.ProfileConfigError as exc:
        return [*problems, f"ImagineKubeSpawner.{exc}"]
    problems += retired_requires("ImagineKubeSpawner", profiles)
    label = section.get("gpu_product_label", spawner_class.gpu_product_label.default_value)
    typed = [p.slug for p in profiles if p.gpu.type and not p.gpu.mig]
    if not label and typed:
        problems.append(
            "ImagineKubeSpawner.gpu_product_label is empty (no GPU feature discovery), so "
            f"gpu.type of profile(s) {typed} can match no node: remove gpu.type, or set "
            "gpu_product_label to a node label your cluster has"
        )
    return problems


def limit_problems(config: Config, name: str) -> list[str]:
    """Negative limits, and group quotas naming a retired ``kc-role:`` group."""
    section = config.get(name, {})
    problems = []
    for trait in _LIMITS:
        value = section.get(trait, 0)
        if isinstance(value, int) and value < 0:
            problems.append(f"{name}.{trait} must be 0 (no limit) or more, not {value}")
    for trait in _GROUP_LIMITS:
        for group, value in (section.get(trait) or {}).items():
            if isinstance(value, int) and value < 0:
                problems.append(f"{name}.{trait}[{group!r}] must be 0 or more, not {value}")
            if str(group).split(":", 1)[0] == LEGACY_ROLE_NS:
                problems.append(f"{name}.{trait}: {legacy_role_message(str(group))}")
    return problems


def retired_requires(name: str, profiles: Iterable[pm.Profile]) -> list[str]:
    """Profiles that require a group in the retired ``kc-role:`` namespace, which nobody has
    any more (docs/migration.md): refused at start-up rather than failing closed silently."""
    return [
        f"{name}.profile_list ({p.slug}): requires {legacy_role_message(r)}"
        for p in profiles
        for r in p.requires
        if r.split(":", 1)[0] == LEGACY_ROLE_NS
    ]
