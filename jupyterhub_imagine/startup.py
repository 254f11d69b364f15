"""Checks of the bundle's hub-side configuration that must fail at start-up, not at first spawn."""

from __future__ import annotations

from typing import Any

from traitlets.config import Config


def spawner_config_problems(config: Config, spawner_class: Any) -> list[str]:
    """Problems in the profile settings of our spawners, each naming ``Class.trait``."""
    from .spawner.local import ImagineLocalSpawner
    from .spawner.profiles import ProfileConfigError

    if not (isinstance(spawner_class, type) and issubclass(spawner_class, ImagineLocalSpawner)):
        return _kube_problems(config, spawner_class)
    try:
        spawner_class(config=config).static_profiles()
    except ProfileConfigError as exc:
        return [f"{spawner_class.__name__}.{exc}"]
    return []


def _kube_problems(config: Config, spawner_class: Any) -> list[str]:
    from .spawner.kube import ImagineKubeSpawner
    from .spawner.profiles import ProfileConfigError, parse_profiles

    if not (isinstance(spawner_class, type) and issubclass(spawner_class, ImagineKubeSpawner)):
        return []
    raw = config.get("ImagineKubeSpawner", {}).get("profile_list") or config.get(
        "KubeSpawner", {}
    ).get("profile_list")
    if not raw or callable(raw):
        return []
    try:
        parse_profiles(raw)
    except ProfileConfigError as exc:
        return [f"ImagineKubeSpawner.{exc}"]
    return []
