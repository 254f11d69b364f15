"""IdleGPUCuller: a JupyterHub service that releases idle GPUs and leaves CPU servers to
jupyterhub-idle-culler's classic loop."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlparse

from traitlets import Unicode, default
from traitlets.config import Application

from .classic import ClassicCulling
from .decide import (
    Action,
    Decision,
    Observation,
    ServerState,
    decide,
    warning_lost,
    warning_payload,
)
from .hub import HubClient, HubError, HubServer, RetryingClient, UserServerClient, epoch
from .metrics import CullerMetrics
from .notify import notify_warning
from .settings import CullerSettings
from .sources import (
    UNKNOWN,
    ActivitySource,
    GpuReading,
    MetricSpec,
    PrometheusSource,
    ServerEndpointSource,
    kubespawner_pod_name,
    reading_from_activity,
    server_id,
)
from .store import MISSING_LIMIT, CullerStore, Event, ServerKey, ServerRecord


def undelivered(old: ServerState, new: ServerState) -> ServerState:
    """The state after an action that did not take effect: the action's own changes are
    dropped (it is tried again), the time just observed is kept (never counted twice)."""
    return replace(old, last_observed=new.last_observed, idle_seconds=new.idle_seconds)


@dataclass
class CycleReport:
    """What one cycle saw and did (logged, and returned for tests and the bench)."""

    servers: int = 0
    gpu_servers: int = 0
    decisions: dict[str, Decision] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def actions(self) -> dict[str, Action]:
        return {name: d.action for name, d in self.decisions.items()}


class IdleGPUCuller(ClassicCulling, CullerSettings, Application):
    """Warn about, then stop, servers whose GPUs sit idle with nobody at the desk."""

    name = "jupyterhub-imagine-culler"
    description = __doc__

    config_file = Unicode(
        "jupyterhub_imagine_culler_config.py",
        config=True,
        help="Config file to load, if it exists.",
    )

    @default("log_level")
    def _log_level_default(self) -> int:
        # decisions (warn, postpone, stop) are logged at INFO: an admin sees them by default
        return logging.INFO

    def setup(self) -> None:
        """Build the clients, source and store (once; injected ones are kept)."""
        if getattr(self, "hub", None) is not None:
            return
        client = RetryingClient(self.api_token, retries=self.hub_retries, backoff=self.hub_backoff)
        self.hub = HubClient(self.api_url, client, page_size=self.api_page_size)
        self.servers = UserServerClient(self.servers_url, client)
        if self.store is None:
            self.store = CullerStore(self.db_url)
        if self.source is None:
            self.source = self.make_source()
        self.metrics = CullerMetrics()
        self.metrics.seed(self.store)
        self.warnings: dict[str, list[dict[str, Any]]] = {}

    def make_source(self) -> ActivitySource:
        if self.activity_source == "prometheus":
            template = self.pod_name_template
            return PrometheusSource(
                self.prometheus_url,
                metrics=[
                    MetricSpec(m["name"], float(m["full_scale"])) for m in self.prometheus_metrics
                ],
                pod_label=self.pod_label,
                namespace_label=self.namespace_label,
                namespace=self.namespace,
                window=self.window(),
                pod_name=lambda s: kubespawner_pod_name(s, template),
            )
        if not self.servers_url:
            raise ValueError(
                "IdleGPUCuller.servers_url is required with activity_source='server': set it to "
                "the proxy's origin, e.g. http://127.0.0.1:8000"
            )
        return ServerEndpointSource(
            self.servers, concurrency=self.concurrency, max_age=self.max_sample_age
        )

    # -- one cycle ---------------------------------------------------------------------------

    def is_candidate(self, server: HubServer, record: ServerRecord | None) -> bool:
        """Whether this server may hold GPUs and so needs a reading this cycle."""
        if self.gpu_profiles:
            return server.profile in self.gpu_profiles
        # a server already seen without GPUs is not asked again (asking counts as activity)
        return record is None or record.holds_gpu is not False

    def classify(self, server: HubServer, record: ServerRecord, reading: GpuReading) -> bool:
        """Update and return whether this server instance holds GPUs (sticky once seen)."""
        if reading.holds_gpu:
            record.holds_gpu = True
            record.gpus = max(record.gpus, reading.gpus)
        elif reading.holds_gpu is False and record.holds_gpu is None:
            record.holds_gpu = False
        if self.gpu_profiles and server.profile in self.gpu_profiles:
            record.holds_gpu = True
        return bool(record.holds_gpu)

    async def with_presence(
        self, servers: Sequence[HubServer], readings: dict[tuple[str, str], GpuReading], now: float
    ) -> None:
        """Fetch presence and "keep" answers from warned servers the source did not ask."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(server: HubServer) -> None:
            sid = server_id(server)
            async with gate:
                try:
                    model = await self.servers.activity(server)
                except Exception as e:  # noqa: BLE001 - any failure means unknown
                    self.log.warning("%s: no presence (%s)", server.log_name, e)
                    return
            answer = reading_from_activity(model, now, self.max_sample_age)
            old = readings.get(sid, UNKNOWN)
            readings[sid] = replace(
                old,
                presence_known=True,
                last_presence=answer.last_presence,
                keep_requested_at=answer.keep_requested_at,
                server_warning=answer.server_warning,
            )

        await asyncio.gather(*(one(s) for s in servers))

    def observation(self, server: HubServer, reading: GpuReading, now: float) -> Observation:
        return Observation(
            now=now,
            utilization=reading.utilization,
            last_presence=reading.last_presence,
            keep_requested_at=reading.keep_requested_at,
            started=epoch(server.started),
            groups=server.groups,
            profile=server.profile,
        )

    async def apply(
        self, server: HubServer, record: ServerRecord, decision: Decision, report: CycleReport
    ) -> bool:
        """Carry out one decision; returns whether it took effect.

        An action that did not take effect leaves the record as if it had not been decided
        (tried again next cycle), but keeps the time just observed, so no interval is counted
        twice.
        """
        name = server.log_name
        try:
            if decision.action in (Action.WARN, Action.POSTPONE):
                payload = warning_payload(decision.state, self.policy(), decision.reason)
                assert payload is not None
                await self.servers.put_warning(server, payload)
                if decision.action == Action.WARN:  # mail/chat for people away from Lab
                    await notify_warning(self, server, payload)
            elif decision.action == Action.CLEAR_WARNING:
                await self.servers.delete_warning(server)
            elif decision.action == Action.STOP:
                stopped = await self.hub.stop_server(server, remove=self.remove_named_servers)
                report.stopped.append(name)
                if not stopped:
                    self.log.info("%s: stop requested, the server is slow to stop", name)
        except HubError as e:
            report.errors.append(f"{name}: {decision.action.value}: {e}")
            self.log.warning("%s: could not %s: %s", name, decision.action.value, e)
            if decision.action != Action.CLEAR_WARNING:
                record.state = undelivered(record.state, decision.state)
                return False
        record.state = decision.state
        return True

    async def cycle(self) -> CycleReport:
        """List servers, read GPU activity once, decide and act; then the classic CPU loop.

        A cycle that fails anywhere is counted in the error metric and logged once; the next
        cycle starts again from what the store holds.
        """
        self.setup()
        started = time.monotonic()
        now = self.clock()
        report = CycleReport()
        try:
            await self._cycle(now, report)
        except HubError as e:
            report.errors.append(str(e))
            self.log.error("Hub unavailable, skipping this cycle: %s", e)
        except Exception as e:  # noqa: BLE001 - one bad cycle must not stop culling
            report.errors.append(f"cycle failed: {e!r}")
            self.log.exception("Culling cycle failed; trying again next cycle")
        self.metrics.end_cycle(
            report.decisions.values(),
            servers=report.servers,
            errors=len(report.errors),
            seconds=time.monotonic() - started,
            now=now,
        )
        return report

    async def _cycle(self, now: float, report: CycleReport) -> None:
        known = self.store.load_running()
        servers, candidates, readings = await self.list_and_read(known, now)
        report.servers = len(servers)
        keys = [ServerKey.of(s) for s in servers]
        listed = set(keys)
        revived = self.store.load_ended(listed - set(known))
        for key in revived:
            self.log.info("%s: listed again after it was taken as ended", key.log_name)
        records = {k: known.get(k) or revived.get(k) or ServerRecord(k) for k in keys}
        for record in records.values():
            record.missing = 0
        gpu_servers = [
            s
            for s in candidates
            if self.classify(s, records[ServerKey.of(s)], readings.get(server_id(s), UNKNOWN))
        ]
        report.gpu_servers = len(gpu_servers)
        self.gpu_full_names = {s.log_name for s in gpu_servers}
        events = await self.decide_and_act(gpu_servers, records, readings, now, report)
        ended, missing = await self.absent([r for k, r in known.items() if k not in listed], report)
        self.store.commit_cycle([*records.values(), *missing], ended=ended, now=now, events=events)
        for _, _, action, reason in events:
            self.metrics.count_event(action, reason)
        self.warnings = self.pending_warnings(gpu_servers, records)
        if self.cull_cpu_servers:
            stops = await self.cull_cpu(servers)
            self.store.record_events(stops)  # a second write, only when it stopped any
            for _, _, action, reason in stops:
                self.metrics.count_event(action, reason)

    async def absent(
        self, records: list[ServerRecord], report: CycleReport
    ) -> tuple[list[ServerKey], list[ServerRecord]]:
        """Known instances missing from this listing: (ended, still open).

        One missed listing (offset pagination while servers stop) is not an end: an instance
        ends when the hub confirms it is gone, or after MISSING_LIMIT listings without it.
        """
        gate = asyncio.Semaphore(self.concurrency)

        async def running(record: ServerRecord) -> bool:
            record.missing += 1
            try:
                async with gate:
                    return bool(await self.hub.is_running(record.key))
            except HubError as e:
                self.log.info(
                    "%s: absent from the listing; hub not asked: %s", record.key.log_name, e
                )
                return record.missing < MISSING_LIMIT

        answers = await asyncio.gather(*(running(r) for r in records))
        ended = [r.key for r, still in zip(records, answers, strict=True) if not still]
        return ended, [r for r, still in zip(records, answers, strict=True) if still]

    async def list_and_read(
        self, known: dict[ServerKey, ServerRecord], now: float
    ) -> tuple[list[HubServer], list[HubServer], dict[tuple[str, str], GpuReading]]:
        """Ready servers, GPU candidates among them, and their readings.

        A source asked per server (``per_server``) reads each page's candidates while the next
        page is listed; others (Prometheus: one query) read once after the listing.
        """
        servers: list[HubServer] = []
        candidates: list[HubServer] = []
        per_server = getattr(self.source, "per_server", False)
        reads: list[asyncio.Future[dict[tuple[str, str], GpuReading]]] = []
        try:
            async for page in self.hub.ready_server_pages():
                servers += page
                mine = [s for s in page if self.is_candidate(s, known.get(ServerKey.of(s)))]
                candidates += mine
                if per_server and mine:
                    reads.append(asyncio.ensure_future(self.source.read(mine, now)))
        except BaseException:
            for r in reads:
                r.cancel()
            raise
        if not per_server and candidates:
            reads.append(asyncio.ensure_future(self.source.read(candidates, now)))
        readings: dict[tuple[str, str], GpuReading] = {}
        for part in await asyncio.gather(*reads):
            readings.update(part)
        return servers, candidates, readings

    def pending_warnings(
        self, servers: list[HubServer], records: dict[ServerKey, ServerRecord]
    ) -> dict[str, list[dict[str, Any]]]:
        """Per user, the warnings now pending on their GPU servers (for the hub home page)."""
        settings = self.policy()
        out: dict[str, list[dict[str, Any]]] = {}
        for server in servers:
            state = records[ServerKey.of(server)].state
            payload = warning_payload(state, settings, "GPU idle")
            if payload is not None:
                entry = {"server": server.name, "url": server.url, **payload.to_json()}
                out.setdefault(server.user, []).append(entry)
        return out

    def warnings_of(self, user: str) -> list[dict[str, Any]]:
        return list(getattr(self, "warnings", {}).get(user, []))

    async def decide_and_act(
        self,
        servers: list[HubServer],
        records: dict[ServerKey, ServerRecord],
        readings: dict[tuple[str, str], GpuReading],
        now: float,
        report: CycleReport,
    ) -> list[Event]:
        """Decide for each GPU server and act; returns the events of what took effect."""
        settings = self.policy()
        need_presence = [
            s
            for s in servers
            if records[ServerKey.of(s)].state.warned
            and not readings.get(server_id(s), UNKNOWN).presence_known
        ]
        if need_presence:
            await self.with_presence(need_presence, readings, now)
        todo: list[tuple[HubServer, ServerRecord, Decision, Any]] = []
        for server in servers:
            record = records[ServerKey.of(server)]
            reading = readings.get(server_id(server), UNKNOWN)
            decision = decide(record.state, self.observation(server, reading, now), settings)
            record.add_usage(decision.usage)
            self.metrics.add_usage(decision.usage, record.gpus)
            report.decisions[server.log_name] = decision
            if warning_lost(decision, reading.server_warning):
                lost = Decision(
                    Action.NONE,
                    "the server lost its warning (restarted?): sent again",
                    decision.state,
                    decision.usage,
                )
                todo.append((server, record, lost, self.resend(server, record, decision, report)))
                continue
            if decision.action == Action.NONE:
                self.log.debug("%s: %s", server.log_name, decision.reason)
                record.state = decision.state
                continue
            todo.append((server, record, decision, self.apply(server, record, decision, report)))
        gate = asyncio.Semaphore(self.concurrency)

        async def gated(coro: Any) -> bool:
            async with gate:
                return bool(await coro)

        done = await asyncio.gather(*(gated(t[3]) for t in todo))
        events: list[Event] = []
        for (server, record, decision, _), took_effect in zip(todo, done, strict=True):
            if not took_effect:
                continue
            action = decision.action.value if decision.action != Action.NONE else "resend-warning"
            self.log.info("%s: %s: %s", server.log_name, action, decision.reason)
            events.append((now, record.key, action, decision.reason))
        return events

    async def resend(
        self, server: HubServer, record: ServerRecord, decision: Decision, report: CycleReport
    ) -> bool:
        """PUT again a warning the server no longer holds (state is kept either way)."""
        record.state = decision.state
        payload = warning_payload(decision.state, self.policy(), "GPU idle (warning re-sent)")
        if payload is None:
            return False
        try:
            await self.servers.put_warning(server, payload)
        except HubError as e:
            report.errors.append(f"{server.log_name}: resend-warning: {e}")
            self.log.warning("%s: could not re-send the warning: %s", server.log_name, e)
            return False
        return True

    # -- running -----------------------------------------------------------------------------

    def start_web(self) -> Any:
        """Serve /metrics and /api/warnings on service_url (when set); returns the server."""
        from jupyterhub.services.auth import HubOAuth

        from .web import listen, make_app

        self.setup()
        if not self.service_url:
            return None
        hub_auth = HubOAuth(
            api_url=self.api_url,
            api_token=self.api_token,
            base_url=self.service_prefix,
            oauth_client_id=self.oauth_client_id,
            access_scopes={f"access:services!service={self.service_name}"},
            cache_max_age=60,
        )
        app = make_app(
            self.service_prefix,
            hub_auth,
            exposition=self.metrics.exposition,
            warnings_of=self.warnings_of,
            metrics_require_auth=self.metrics_require_auth,
            home_url=os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/hub/home",
        )
        bind = urlparse(self.bind_url or self.service_url)
        self.log.info(
            "Serving metrics and warnings on %s%s (listening on %s:%s)",
            self.service_url,
            self.service_prefix,
            bind.hostname,
            bind.port,
        )
        return listen(app, bind.hostname or "127.0.0.1", bind.port or 80)

    async def run_forever(self) -> None:
        try:
            self.start_web()
        except OSError as e:
            # culling saves the money: it goes on without the endpoints
            self.log.error(
                "Cannot listen on %s (%s): no metrics and no warnings on the hub home page. "
                "Set IdleGPUCuller.bind_url to an address of this host.",
                self.bind_url or self.service_url,
                e,
            )
        while True:
            started = time.monotonic()
            try:
                report = await self.cycle()
                self.log.info(
                    "Cycle: %i servers, %i with GPUs, %i stopped, %i errors",
                    report.servers,
                    report.gpu_servers,
                    len(report.stopped),
                    len(report.errors),
                )
            except Exception:
                self.log.exception("Culling cycle failed; trying again next cycle")
            await asyncio.sleep(max(self.cull_every - (time.monotonic() - started), 1.0))

    def initialize(self, argv: list[str] | None = None) -> None:
        self.parse_command_line(argv)
        if self.config_file and os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
            self.parse_command_line(argv)

    def start(self) -> None:
        if not self.api_token:
            raise SystemExit("No hub API token: run as a JupyterHub service or set api_token.")
        if self.activity_source == "server" and not self.servers_url and self.source is None:
            raise SystemExit(
                "IdleGPUCuller.servers_url is required with activity_source='server': set it "
                "(or $JUPYTERHUB_IMAGINE_SERVERS_URL) to the proxy's origin."
            )
        try:
            asyncio.run(self.run_forever())
        except KeyboardInterrupt:
            # the hub stops its services with SIGINT: a normal stop, not an error
            self.log.info("Stopped")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: jupyterhub-imagine-culler."""
    IdleGPUCuller.launch_instance(argv)


if __name__ == "__main__":
    main()
