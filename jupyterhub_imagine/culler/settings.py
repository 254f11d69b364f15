"""The culler's settings: every trait of IdleGPUCuller but the application's own, and the
policy they make (a mixin, like ClassicCulling)."""

from __future__ import annotations

import os
import time
from dataclasses import fields
from typing import Any
from urllib.parse import urlparse

from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, Enum, Float, Int, List, Set, Unicode, default
from traitlets import Callable as CallableTrait
from traitlets.config import Configurable

from .. import contract
from .decide import PolicySettings
from .sources import DEFAULT_METRICS


class CullerSettings(Configurable):
    """Mixin of IdleGPUCuller: its configuration, with defaults from the hub's environment."""

    api_url = Unicode(config=True, help="Hub API URL. Default: $JUPYTERHUB_API_URL.")
    api_token = Unicode(config=True, help="Hub API token. Default: $JUPYTERHUB_API_TOKEN.")
    servers_url = Unicode(
        config=True,
        help="""Origin through which user servers are reached (the proxy), e.g.
        http://proxy-public or http://127.0.0.1:8000. Default: $JUPYTERHUB_IMAGINE_SERVERS_URL,
        else the origin of $JUPYTERHUB_PUBLIC_HUB_URL.""",
    )
    cull_every = Float(60.0, config=True, help="Seconds between cycles.")
    gpu_idle_timeout = Float(
        1800.0, config=True, help="Seconds of GPU activity below idle_threshold before a warning."
    )
    warning_lead = Float(900.0, config=True, help="Seconds between the warning and the stop.")
    postpone_by = Float(3600.0, config=True, help="Seconds one 'keep my GPU' answer adds.")
    max_postponements = Int(2, config=True, help="'Keep' answers honoured per server start.")
    idle_threshold = Float(
        5.0, config=True, help="GPU activity (percent, 0-100) below which a GPU counts as idle."
    )
    presence_timeout = Float(
        1800.0,
        config=True,
        help="""Seconds after the user's last presence (key, click or focus in Lab; an execute
        request or a save from any client) during which a due stop is held, for at most
        presence_hold_max. Longer covers longer breaks but holds forgotten GPUs longer
        (docs/culler.md has the measured trade-off).""",
    )
    presence_holds = Bool(
        True,
        config=True,
        help="Whether recent presence (presence_timeout) holds a due stop until the user leaves.",
    )
    presence_hold_max = Float(
        7200.0,
        config=True,
        help="""Seconds presence alone may hold a due stop (per warning); after that only "keep"
        answers postpone it, so a user who clicks now and then does not hold an idle GPU for
        ever. A keep answer is not itself presence.""",
    )
    unknown_restart_after = Float(
        900.0,
        config=True,
        help="""Seconds of unknown GPU activity in a row (metrics missing, culler down) after
        which the idle run restarts and a pending warning is withdrawn. 0: never.""",
    )
    max_gpu_age = Float(
        0.0, config=True, help="Stop GPU servers this many seconds after start, even busy. 0: off."
    )
    max_sample_gap = Float(
        0.0,
        config=True,
        help="Seconds between two observations beyond which the gap counts as unknown. "
        "Default: 3 x cull_every, at least the Prometheus window.",
    )
    exempt_groups = Set(
        Unicode(), config=True, help="Hub groups whose GPU servers are never culled."
    )
    exempt_profiles = Set(
        Unicode(), config=True, help="Profile slugs never culled for GPU idleness."
    )
    gpu_profiles = Set(
        Unicode(),
        config=True,
        help="""Profile slugs (user_options['profile']) that hold GPUs. When set, only these
        servers are GPU servers, even while their metrics are missing; when empty, GPU servers
        are recognised from their metrics (each new server is probed once with source=server).""",
    )
    activity_source = Enum(
        ["server", "prometheus"],
        "server",
        config=True,
        help="'prometheus' (DCGM exporter series) or 'server' (each server's NVML endpoint).",
    )
    prometheus_url = Unicode("http://127.0.0.1:9090", config=True, help="Prometheus base URL.")
    prometheus_metrics = List(
        Dict(),
        config=True,
        help="""[{"name": ..., "full_scale": 1.0|100.0}, ...] in fallback order; full_scale is the
        value meaning 100% (1.0 for ratios like DCGM_FI_PROF_GR_ENGINE_ACTIVE).""",
    )
    pod_label = Unicode("pod", config=True, help="Pod label of DCGM series (e.g. exported_pod).")
    namespace_label = Unicode(
        "namespace", config=True, help="Namespace label (exported_namespace)."
    )
    namespace = Unicode("", config=True, help="Only this namespace's series. Empty: any.")
    pod_name_template = Unicode(
        "jupyter-{user_server}",
        config=True,
        help="KubeSpawner pod_name_template (safe slug scheme fields: username, servername, "
        "user_server).",
    )
    prometheus_window = Float(
        0.0, config=True, help="Seconds of max_over_time window. Default: 2 x cull_every."
    )
    concurrency = Int(20, config=True, help="Concurrent requests to user servers and the hub.")
    max_sample_age = Float(
        300.0, config=True, help="Server-reported GPU samples older than this count as unknown."
    )
    db_url = Unicode(
        "sqlite:///jupyterhub_imagine_culler.sqlite",
        config=True,
        help="SQLAlchemy URL of the state store (e.g. postgresql://user@host/db).",
    )
    remove_named_servers = Bool(False, config=True, help="Remove named GPU servers we stop.")
    hub_retries = Int(4, config=True, help="Retries of a failed hub request.")
    hub_backoff = Float(1.0, config=True, help="First retry delay (s); doubles each retry.")
    service_name = Unicode(
        config=True,
        help="Hub service name of the culler. Default: $JUPYTERHUB_SERVICE_NAME, else "
        "'imagine-culler'.",
    )
    service_url = Unicode(
        config=True,
        help="""Where the culler serves its metrics and the users' warnings, e.g.
        http://127.0.0.1:10101 (give the hub service the same 'url'). Default:
        $JUPYTERHUB_SERVICE_URL. Empty: no HTTP endpoints.""",
    )
    bind_url = Unicode(
        "",
        config=True,
        help="""Where the culler's HTTP server listens, when that differs from service_url: in
        Zero-to-JupyterHub the proxy reaches the hub pod through the hub Service
        (service_url http://hub:10101) while the culler listens on http://0.0.0.0:10101.
        Default: $JUPYTERHUB_IMAGINE_CULLER_BIND_URL, else service_url.""",
    )
    service_prefix = Unicode(
        config=True,
        help="URL prefix the proxy routes to the culler. Default: $JUPYTERHUB_SERVICE_PREFIX, "
        "else /services/<service_name>/.",
    )
    oauth_client_id = Unicode(
        config=True,
        help="OAuth client id for the users' warnings endpoint. Default: $JUPYTERHUB_CLIENT_ID, "
        "else service-<service_name>.",
    )
    metrics_require_auth = Bool(
        True,
        config=True,
        help="""Whether /metrics needs a hub token with access to this service (like the hub's
        own authenticate_prometheus). Scrape with that token as a bearer token.""",
    )
    clock = CallableTrait(time.time, help="Seconds since the epoch; replaced in tests.")
    source = AnyTrait(None, allow_none=True, help="An ActivitySource; built from config if None.")
    store = AnyTrait(None, allow_none=True, help="A CullerStore; built from db_url if None.")

    @default("api_url")
    def _api_url(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    @default("api_token")
    def _api_token(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    @default("servers_url")
    def _servers_url(self) -> str:
        explicit = os.environ.get(contract.ENV_SERVERS_URL)
        if explicit:
            return explicit
        public = urlparse(os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL", ""))
        return f"{public.scheme}://{public.netloc}" if public.netloc else ""

    @default("service_name")
    def _service_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_NAME", contract.DEFAULT_CULLER_SERVICE)

    @default("bind_url")
    def _bind_url(self) -> str:
        return os.environ.get(contract.ENV_CULLER_BIND_URL, "")

    @default("service_url")
    def _service_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_URL", "")

    @default("service_prefix")
    def _service_prefix(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{self.service_name}/")

    @default("oauth_client_id")
    def _oauth_client_id(self) -> str:
        return os.environ.get("JUPYTERHUB_CLIENT_ID", f"service-{self.service_name}")

    @default("prometheus_metrics")
    def _metrics(self) -> list[dict[str, Any]]:
        return [{"name": m.name, "full_scale": m.full_scale} for m in DEFAULT_METRICS]

    def policy(self) -> PolicySettings:
        gap = self.max_sample_gap or max(3 * self.cull_every, self.window())
        # every policy field is the trait of the same name, except the derived sample gap
        plain = {f.name: getattr(self, f.name) for f in fields(PolicySettings)}
        plain.update(
            max_sample_gap=gap,
            exempt_groups=frozenset(self.exempt_groups),
            exempt_profiles=frozenset(self.exempt_profiles),
        )
        return PolicySettings(**plain)

    def window(self) -> float:
        return self.prometheus_window or 2 * self.cull_every
