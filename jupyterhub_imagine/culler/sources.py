"""GPU activity sources, each read once per cycle for all running servers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..contract import Activity, ContractError
from .hub import HubServer, UserServerClient, http_client

log = logging.getLogger(__name__)

ServerId = tuple[str, str]


def server_id(server: HubServer) -> ServerId:
    return (server.user, server.name)


@dataclass(frozen=True)
class GpuReading:
    """One cycle's GPU view of one server.

    ``holds_gpu`` None: this source cannot tell. ``utilization``: highest activity (percent)
    over the window and over the server's GPUs, None when unknown.
    ``presence_known``: whether ``last_presence``/``keep_requested_at`` came with the reading.
    ``server_warning``: whether the server holds a warning (None: not asked).
    """

    holds_gpu: bool | None
    utilization: float | None
    gpus: int = 0
    presence_known: bool = False
    last_presence: float | None = None
    keep_requested_at: float | None = None
    error: str = ""
    server_warning: bool | None = None


UNKNOWN = GpuReading(holds_gpu=None, utilization=None)


class ActivitySourceError(Exception):
    """A GPU activity source gave no usable answer: GPU activity is unknown this cycle."""


class PrometheusError(ActivitySourceError):
    """Prometheus could not be reached, or refused or failed the query (its message kept)."""


def prometheus_error_text(body: bytes | None) -> str:
    """The ``error`` of a Prometheus API error answer, else the start of the body."""
    try:
        model = json.loads(body or b"")
    except ValueError:
        return (body or b"").decode("utf-8", "replace")[:200]
    if isinstance(model, dict) and model.get("error"):
        return f"{model.get('errorType', 'error')}: {model['error']}"[:500]
    return str(model)[:200]


class ActivitySource(Protocol):
    """Reads GPU activity for many servers at once."""

    async def read(self, servers: Sequence[HubServer], now: float) -> dict[ServerId, GpuReading]:
        """One reading per server (UNKNOWN where nothing is known)."""
        ...


@dataclass(frozen=True)
class MetricSpec:
    """A DCGM series and the value meaning 100% (1.0 for ratios, 100.0 for percents)."""

    name: str
    full_scale: float = 100.0


DEFAULT_METRICS = (
    MetricSpec("DCGM_FI_PROF_GR_ENGINE_ACTIVE", 1.0),
    MetricSpec("DCGM_FI_DEV_GPU_UTIL", 100.0),
)


def kubespawner_pod_name(server: HubServer, template: str = "jupyter-{user_server}") -> str:
    """The pod name KubeSpawner 7's default "safe" slug scheme gives this server."""
    from kubespawner.slugs import multi_slug, safe_slug

    max_len = 48
    safe_user = safe_slug(server.user, max_length=max_len)
    safe_server = safe_slug(server.name, max_length=max_len) if server.name else ""
    if len(safe_user) + len(safe_server) + 2 > max_len:
        user_server = multi_slug([server.user, server.name], max_length=max_len)
    elif server.name:
        user_server = f"{safe_user}--{safe_server}"
    else:
        user_server = safe_user
    return template.format(username=safe_user, servername=safe_server, user_server=user_server)


class PrometheusSource:
    """DCGM-exporter series through Prometheus: one instant query per cycle."""

    def __init__(
        self,
        url: str,
        *,
        metrics: Sequence[MetricSpec] = DEFAULT_METRICS,
        pod_label: str = "pod",
        namespace_label: str = "namespace",
        namespace: str = "",
        window: float = 120.0,
        pod_name: Callable[[HubServer], str] = kubespawner_pod_name,
        http_client: AsyncHTTPClient | None = None,
        request_timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.metrics = tuple(metrics)
        self.pod_label = pod_label
        self.namespace_label = namespace_label
        self.namespace = namespace
        self.window = window
        self.pod_name = pod_name
        self._http = http_client
        self.request_timeout = request_timeout

    http = property(lambda self: http_client(self._http))

    def _selector(self, metric: MetricSpec) -> str:
        # a JSON string is a valid PromQL string literal: quotes in the namespace stay quoted
        value = json.dumps(self.namespace)
        matcher = f"{{{self.namespace_label}={value}}}" if self.namespace else ""
        return f"max_over_time({metric.name}{matcher}[{int(self.window)}s])"

    def query(self) -> str:
        """PromQL giving per pod the max activity in percent and the GPU count.

        ``or`` keeps, per pod, the first metric that has series: the fallback order.
        """
        by = f"by ({self.pod_label}, {self.namespace_label})"

        def tagged(expr: str, stat: str) -> str:
            return f'label_replace({expr}, "imagine_stat", "{stat}", "", "")'

        util = " or ".join(
            tagged(f"(max {by} ({self._selector(m)}) * {100.0 / m.full_scale:g})", "util")
            for m in self.metrics
        )
        count = " or ".join(
            tagged(f"count {by} ({self._selector(m)})", "count") for m in self.metrics
        )
        return f"({util}) or ({count})"

    async def fetch(self) -> list[dict[str, Any]]:
        """The query's series; PrometheusError when there is no usable answer."""
        url = f"{self.url}/api/v1/query?" + urlencode({"query": self.query()})
        try:
            resp = await self.http.fetch(HTTPRequest(url, request_timeout=self.request_timeout))
        except HTTPClientError as e:
            body = e.response.body if e.response is not None else None
            detail = prometheus_error_text(body) if body else str(e)
            raise PrometheusError(f"Prometheus answered {e.code}: {detail}") from e
        except OSError as e:
            raise PrometheusError(f"cannot reach Prometheus: {e}") from e
        try:
            model = json.loads(resp.body)
        except ValueError as e:
            raise PrometheusError(f"Prometheus answered with something not JSON: {e}") from e
        if not isinstance(model, dict) or model.get("status") != "success":
            raise PrometheusError(f"Prometheus query failed: {prometheus_error_text(resp.body)}")
        return model["data"]["result"]  # type: ignore[no-any-return]

    async def read(self, servers: Sequence[HubServer], now: float) -> dict[ServerId, GpuReading]:
        try:
            series = await self.fetch()
        except Exception as e:  # noqa: BLE001 - any failure is unknown, never a stop
            log.warning("Prometheus at %s unavailable, GPU activity unknown: %s", self.url, e)
            return {server_id(s): GpuReading(None, None, error=str(e)) for s in servers}
        util: dict[str, float] = {}
        count: dict[str, int] = {}
        for s in series:
            labels = s["metric"]
            pod = labels.get(self.pod_label, "")
            if self.namespace and labels.get(self.namespace_label) != self.namespace:
                continue
            value = float(s["value"][1])
            if labels.get("imagine_stat") == "count":
                count[pod] = int(value)
            else:
                util[pod] = value
        out = {}
        for server in servers:
            pod = self.pod_name(server)
            if pod in util:
                out[server_id(server)] = GpuReading(True, util[pod], gpus=count.get(pod, 1))
            else:
                # no series: a CPU-only pod, or a GPU pod whose metrics are missing
                out[server_id(server)] = GpuReading(None, None)
        return out


def reading_from_activity(model: object, now: float, max_age: float) -> GpuReading:
    """Turn a server's GET activity answer into a reading (unknown if off-contract)."""
    try:
        answer = Activity.parse(model)
    except ContractError as e:
        log.warning("Activity answer off the contract, read as unknown: %s", e)
        return UNKNOWN
    # the server's timestamps are turned into ages on its own clock, then into our time
    skew = now - answer.now

    def ours(t: float | None) -> float | None:
        return None if t is None else t + skew

    last_presence = ours(answer.last_presence)
    keep = ours(answer.keep_requested_at)
    warned = answer.warning is not None if answer.has_warning_field else None
    gpu = answer.gpu
    devices = gpu.get("gpus") or []
    if not gpu.get("available") or not devices:
        # an unavailable sampler (NVML error) with GPUs listed is unknown, not CPU-only
        holds = False if not devices else None
        return GpuReading(holds, None, 0, True, last_presence, keep, server_warning=warned)
    values = [
        u
        for d in devices
        if isinstance(d, dict)
        for u in [d.get("utilization"), *(m.get("utilization") for m in d.get("mig") or [])]
        if isinstance(u, (int, float)) and not isinstance(u, bool)
    ]
    sampled_at = gpu.get("sampled_at")
    sampled = ours(float(sampled_at)) if isinstance(sampled_at, (int, float)) else None
    stale = sampled is not None and now - sampled > max_age
    utilization = max(values) if values and not stale else None
    return GpuReading(
        True, utilization, len(devices), True, last_presence, keep, server_warning=warned
    )


class ServerEndpointSource:
    """Each server's own GET activity (NVML through the server extension), concurrently."""

    # one request per server: the culler starts reading while it lists the next page
    per_server = True

    def __init__(
        self, client: UserServerClient, *, concurrency: int = 20, max_age: float = 300.0
    ) -> None:
        self.client = client
        self.concurrency = max(concurrency, 1)
        self.max_age = max_age
        # shared by concurrent reads (one per page of users): at most `concurrency` requests
        self._gate: asyncio.Semaphore | None = None

    async def read(self, servers: Sequence[HubServer], now: float) -> dict[ServerId, GpuReading]:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        gate = self._gate

        async def one(server: HubServer) -> GpuReading:
            async with gate:
                try:
                    model = await self.client.activity(server)
                except Exception as e:  # noqa: BLE001 - any failure means unknown
                    log.warning("No GPU activity from %s: %s", server.log_name, e)
                    return GpuReading(None, None, error=str(e))
            return reading_from_activity(model, now, self.max_age)

        readings = await asyncio.gather(*(one(s) for s in servers))
        return {server_id(s): r for s, r in zip(servers, readings, strict=True)}
