"""Checks of the bundle's hub-side configuration that must fail at start-up, not at first spawn."""

from __future__ import annotations

from typing import Any

from traitlets.config import Config

_LIMITS = ("gpu_quota_per_user", "gpu_max_session_seconds")
_GROUP_LIMITS = ("gpu_quota_per_group_member", "gpu_quota_per_group_total")


def spawner_config_problems(config: Config, spawner_class: Any) -> list[str]:
    """Problems in the profile and quota settings of our spawners, each naming ``Class.trait``."""
    from .spawner.local import ImagineLocalSpawner
    from .spawner.profiles import ProfileConfigError

    if not (isinstance(spawner_class, type) and issubclass(spawner_class, ImagineLocalSpawner)):
        return _kube_problems(config, spawner_class)
    problems = _limit_problems(config, spawner_class.__name__)
    try:
        spawner_class(config=config).static_profiles()
    except ProfileConfigError as exc:
        problems.append(f"{spawner_class.__name__}.{exc}")
    return problems


def _limit_problems(config: Config, name: str) -> list[str]:
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
    return problems


def _kube_problems(config: Config, spawner_class: Any) -> list[str]:
    from .spawner.kube import ImagineKubeSpawner
    from .spawner.profiles import ProfileConfigError, parse_profiles

    if not (isinstance(spawner_class, type) and issubclass(spawner_class, ImagineKubeSpawner)):
        return []
    problems = _limit_problems(config, "ImagineKubeSpawner")
    raw = config.get("ImagineKubeSpawner", {}).get("profile_list") or config.get(
        "KubeSpawner", {}
    ).get("profile_list")
    if not raw or callable(raw):
        return problems
    try:
        profiles = parse_profiles(raw)
    except ProfileConfigError as exc:
        problems.append(f"ImagineKubeSpawner.{exc}")
        return problems
    label = config.get("ImagineKubeSpawner", {}).get(
        "gpu_product_label", spawner_class.gpu_product_label.default_value
    )
    typed = [p.slug for p in profiles if p.gpu.type and not p.gpu.mig]
    if not label and typed:
        problems.append(
            "ImagineKubeSpawner.gpu_product_label is empty (no GPU feature discovery), so "
            f"gpu.type of profile(s) {typed} can match no node: remove gpu.type, or set "
            "gpu_product_label to a node label your cluster has"
        )
    return problems
