"""Checks of the bundle's hub-side configuration that must fail at start-up, not at first spawn."""

from __future__ import annotations

from typing import Any

from traitlets.config import Config

from . import contract


def spawner_config_problems(config: Config, spawner_class: Any) -> list[str]:
    """The configured spawner's own start-up check (``config_problems``, which our spawners
    define in ``spawner/config_checks.py``); other spawners have none. JupyterHub builds
    spawners lazily, so the authenticator, which it builds at start-up, calls this."""
    check = getattr(spawner_class, "config_problems", None)
    return list(check(config)) if isinstance(spawner_class, type) and callable(check) else []


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
