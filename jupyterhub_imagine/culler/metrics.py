"""The culler's own Prometheus metrics: GPU-seconds by state, culls by reason, warnings.

Counters are seeded from the store at start-up, so they count since the store was created and
stay monotonic across culler restarts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest

from .decide import Action, Decision, Usage, stop_cause

if TYPE_CHECKING:
    from .store import CullerStore

PREFIX = "imagine_culler"
GPU_STATES = ("active", "idle", "unknown")
# event actions as stored -> the counter they feed
EVENT_COUNTERS = {
    Action.WARN.value: "warnings",
    Action.POSTPONE.value: "postponements",
    Action.CLEAR_WARNING.value: "withdrawn",
    "resend-warning": "resent",
}


class CullerMetrics:
    """Totals the service exports on its /metrics endpoint."""

    def __init__(self) -> None:
        self.gpu_seconds: dict[str, float] = dict.fromkeys(GPU_STATES, 0.0)
        self.culls: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.cycles = 0
        self.cycle_errors = 0
        self.servers = 0
        self.gpu_servers: Counter[str] = Counter()
        self.warned_servers = 0
        self.last_cycle_seconds = 0.0
        self.last_cycle_end = 0.0

    def seed(self, store: CullerStore) -> None:
        """Start from what the store has recorded (all server instances, all events)."""
        for active, idle, unknown in store.usage().values():
            for state, value in zip(GPU_STATES, (active, idle, unknown), strict=True):
                self.gpu_seconds[state] += value
        for event in store.events():
            self.count_event(event["action"], event["reason"])

    def count_event(self, action: str, reason: str) -> None:
        if action == Action.STOP.value:
            self.culls[stop_cause(reason)] += 1
        elif action == "classic-stop":
            self.culls["cpu-inactive"] += 1
        elif action in EVENT_COUNTERS:
            self.events[EVENT_COUNTERS[action]] += 1

    def add_usage(self, usage: Usage, gpus: int) -> None:
        n = max(gpus, 1)
        self.gpu_seconds["active"] += usage.active * n
        self.gpu_seconds["idle"] += usage.idle * n
        self.gpu_seconds["unknown"] += usage.unknown * n

    def end_cycle(
        self,
        decisions: Iterable[Decision],
        *,
        servers: int,
        errors: int,
        seconds: float,
        now: float,
    ) -> None:
        """Gauges describing the cycle just finished."""
        self.cycles += 1
        self.cycle_errors += errors
        self.servers = servers
        self.gpu_servers = Counter()
        self.warned_servers = 0
        for d in decisions:
            self.gpu_servers[d.kind] += 1
            self.warned_servers += d.state.warned and d.action != Action.STOP
        self.last_cycle_seconds = seconds
        self.last_cycle_end = now

    def collect(self) -> Iterator[Metric]:
        """prometheus_client collector protocol."""
        gpu = CounterMetricFamily(
            f"{PREFIX}_gpu_seconds",
            "GPU-seconds of running GPU servers by GPU state (divide by 3600 for GPU-hours)",
            labels=["state"],
        )
        for state in GPU_STATES:
            gpu.add_metric([state], self.gpu_seconds[state])
        yield gpu
        culls = CounterMetricFamily(
            f"{PREFIX}_culls", "Servers stopped by the culler, by reason", labels=["reason"]
        )
        for reason in ("gpu-idle", "max-gpu-age", "cpu-inactive"):
            culls.add_metric([reason], self.culls[reason])
        yield culls
        for name, help_text in (
            ("warnings", "Idle-GPU warnings sent to servers"),
            ("postponements", "'Keep my GPU' answers that postponed a stop"),
            ("withdrawn", "Warnings withdrawn (GPU active again, or exempt)"),
            ("resent", "Warnings re-sent to a server that had lost them"),
        ):
            yield CounterMetricFamily(f"{PREFIX}_{name}", help_text, value=self.events[name])
        yield CounterMetricFamily(f"{PREFIX}_cycles", "Cull cycles run", value=self.cycles)
        yield CounterMetricFamily(
            f"{PREFIX}_cycle_errors", "Hub or server errors during cycles", value=self.cycle_errors
        )
        yield from self.gauges()

    def gauges(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            f"{PREFIX}_servers", "Ready servers seen in the last cycle", value=self.servers
        )
        by_state = GaugeMetricFamily(
            f"{PREFIX}_gpu_servers",
            "GPU servers in the last cycle by their GPU state",
            labels=["state"],
        )
        for state in GPU_STATES:
            by_state.add_metric([state], self.gpu_servers[state])
        yield by_state
        yield GaugeMetricFamily(
            f"{PREFIX}_warned_servers",
            "GPU servers with a pending warning",
            value=self.warned_servers,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_last_cycle_duration_seconds",
            "Wall time of the last cycle",
            value=self.last_cycle_seconds,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_last_cycle_timestamp_seconds",
            "When the last cycle ended (seconds since the epoch)",
            value=self.last_cycle_end,
        )

    def exposition(self) -> bytes:
        """The text exposition format, as served on /metrics."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # type: ignore[arg-type]
        return generate_latest(registry)
