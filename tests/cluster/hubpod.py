"""Inside the hub pod: build the hub's config the way Z2JH's jupyterhub_config.py does.

The emulated hub pod's ``jupyterhub_config.py`` calls ``configure(c, root)``. ``root`` holds
what Kubernetes would mount into the hub pod: ``values.yaml`` (the chart's rendered hub values,
as in Z2JH's hub Secret), ``secrets.json`` (the Secrets the hub reads) and ``cluster.json``
(the emulated network: pod address and Service table, see network.py).

The values become config through tests/helm/chart.py's ``hub_config``; then the parts of Z2JH's
config that are about the cluster's network and pods, which the chart tests do not need: the
hub's bind and connect URLs, the external proxy pod, ``cleanup_servers = False`` (user pods
outlive a hub restart) and ``singleuser.cmd``. ($KUBECONFIG, set by the cluster, points the
hub at the FAKE API server, standing in for the hub's ServiceAccount.) Service names in
the managed services' URLs and environment are resolved (no cluster DNS here), and their
paths on the hub's volume (/srv/jupyterhub) are the same paths under ``root``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from traitlets.config import Config

from tests.helm.chart import HubSecrets, get, hub_config

from .network import HUB_API_PORT, PROXY_API_PORT, Services, bind_in_pod

Z2JH_SINGLEUSER_CMD = "jupyterhub-singleuser"  # Z2JH's default singleuser.cmd


def load(root: Path) -> tuple[dict[str, Any], HubSecrets, dict[str, Any]]:
    values = yaml.safe_load((root / "values.yaml").read_text())
    raw = json.loads((root / "secrets.json").read_text())
    secrets = HubSecrets(raw["secrets"], raw["existing"], raw["managed"])
    return values, secrets, json.loads((root / "cluster.json").read_text())


HUB_VOLUME = "/srv/jupyterhub"  # the hub pod's working directory and volume


def resolve_services(c: Config, services: Services, pod_ip: str, root: Path) -> None:
    """Resolve Service names in each hub service's url and environment; binds to 0.0.0.0
    become the hub pod's address, and paths on the hub's volume ``root``/srv/jupyterhub."""
    for service in c.JupyterHub.services:
        if service.get("command"):
            service["command"] = [a.replace(HUB_VOLUME, f"{root}{HUB_VOLUME}")
                                  for a in service["command"]]
        if service.get("url"):
            service["url"] = services.resolve_url(service["url"])
        env = service.get("environment") or {}
        for key, value in env.items():
            if isinstance(value, str) and "://" in value:
                env[key] = bind_in_pod(services.resolve_url(value), pod_ip)


def configure(c: Config, root: Path) -> None:
    """Fill ``c`` (the hub's config) from the files mounted in the hub pod at ``root``."""
    values, secrets, cluster = load(root)
    built = hub_config(values, secrets, namespace=cluster["namespace"])
    services = Services.from_json(cluster["services"])
    pod_ip = cluster["hub_pod"]
    resolve_services(built, services, pod_ip, root)
    c.merge(built)
    # Z2JH's network: the hub listens on its pod, everyone reaches it through the hub Service.
    c.JupyterHub.hub_bind_url = f"http://{pod_ip}:{HUB_API_PORT}"
    c.JupyterHub.hub_connect_url = services.resolve_url(f"http://hub:{HUB_API_PORT}")
    c.JupyterHub.bind_url = services.resolve_url("http://proxy-public")
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = services.resolve_url(f"http://proxy-api:{PROXY_API_PORT}")
    c.ConfigurableHTTPProxy.auth_token = secrets.secret_value(
        "hub.config.ConfigurableHTTPProxy.auth_token"
    )
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.db_url = f"sqlite:///{root / 'jupyterhub.sqlite'}"
    c.KubeSpawner.cmd = get(values, "singleuser.cmd", Z2JH_SINGLEUSER_CMD)
    c.KubeSpawner.start_timeout = 120
    c.KubeSpawner.http_timeout = 90
