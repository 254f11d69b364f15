"""Checks of the bundle's hub-side configuration that must fail at start-up, not at first spawn."""

from __future__ import annotations

from typing import Any

from traitlets.config import Config

from . import contract

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
        profiles = spawner_class(config=config).static_profiles()
    except ProfileConfigError as exc:
        problems.append(f"{spawner_class.__name__}.{exc}")
        return problems
    return problems + _retired_requires(spawner_class.__name__, profiles)


def _retired_requires(name: str, profiles: Any) -> list[str]:
    """Profiles that require a group in the retired ``kc-role:`` namespace, which nobody has
    any more (docs/migration.md): refused at start-up rather than failing closed silently."""
    from .auth.entitlements import LEGACY_ROLE_NS, legacy_role_message

    return [
        f"{name}.profile_list ({p.slug}): requires {legacy_role_message(r)}"
        for p in profiles
        for r in p.requires
        if r.split(":", 1)[0] == LEGACY_ROLE_NS
    ]


def _limit_problems(config: Config, name: str) -> list[str]:
    from .auth.entitlements import LEGACY_ROLE_NS, legacy_role_message

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
    problems += _retired_requires("ImagineKubeSpawner", profiles)
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


# ----- Zero-to-JupyterHub: service URLs from the release's names -------------------------------
#: the name of the culler's port in hub.service.extraPorts (a chart constant; the service's own
#: name may differ: it is found by its command, contract.culler_service_from_services)
CULLER_PORT = "imagine-culler"


def z2jh_proxy_url(get_config: Any, get_name: Any) -> str:
    """Where pods in the cluster reach the proxy over plain HTTP, by Z2JH's HTTPS mode.

    With autohttps (``letsencrypt`` and hosts), ``proxy-public`` is Traefik, which redirects to
    HTTPS: the proxy itself is behind ``proxy-http`` on port 8000 then. With ``manual`` or
    ``secret`` the proxy speaks TLS for the public host name only, so the URL must be set.
    """
    https = get_config("proxy.https", {}) or {}
    kind = https.get("type") if https.get("enabled") else None
    if kind == "letsencrypt" and https.get("hosts"):
        return f"http://{get_name('proxy-http')}:8000"
    if kind in ("manual", "secret"):
        raise ValueError(
            f"proxy.https.type={kind}: set the culler service's environment."
            f"{contract.ENV_SERVERS_URL} (hub.services.imagine-culler.environment) to a URL of "
            "the proxy that pods can reach"
        )
    return f"http://{get_name('proxy-public')}"


def wire_z2jh_services(c: Any, get_config: Any, get_name: Any) -> dict[str, str]:
    """Complete the culler service of ``c.JupyterHub.services`` from Z2JH's names and values.

    Called from ``hub.extraConfig`` with Z2JH's ``get_config`` and ``get_name`` (which know
    ``fullnameOverride``). The culler's port is written once, in ``hub.service.extraPorts``
    (entry ``imagine-culler``); values set explicitly in the service are kept. Returns what it
    set, for the log.
    """
    ports = [p for p in get_config("hub.service.extraPorts", []) or []
             if p.get("name") == CULLER_PORT]
    if not ports:
        raise ValueError(f"hub.service.extraPorts needs an entry named {CULLER_PORT!r}")
    port = int(ports[0].get("targetPort") or ports[0]["port"])
    name = contract.culler_service_from_services(list(c.JupyterHub.services))
    service = next((s for s in c.JupyterHub.services if s.get("name") == name), None)
    if service is None:
        return {}
    wired = {}
    if not service.get("url"):
        service["url"] = wired["url"] = f"http://{get_name('hub')}:{ports[0]['port']}"
    env = service.setdefault("environment", {})
    for key, value in (
        (contract.ENV_CULLER_BIND_URL, f"http://0.0.0.0:{port}"),
        (contract.ENV_SERVERS_URL, None),
    ):
        if key not in env:
            env[key] = value or z2jh_proxy_url(get_config, get_name)
            wired[key] = env[key]
    return wired
