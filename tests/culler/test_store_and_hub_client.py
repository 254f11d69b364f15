"""State surviving a restart, and hub-client retries against a flaky loopback server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyterhub_imagine.culler.decide import ServerState, Usage
from jupyterhub_imagine.culler.hub import (
    HubClient,
    HubError,
    HubServer,
    RetryingClient,
    epoch,
)
from jupyterhub_imagine.culler.store import CullerStore, ServerKey, ServerRecord


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-11-21T10:00:00.123456Z", 1795255200.123456),  # what the hub writes
        ("2026-11-21T10:00:00Z", 1795255200.0),
        ("2026-11-21T10:00:00.123456", 1795255200.123456),  # naive means UTC
        ("2026-11-21T12:00:00+02:00", 1795255200.0),
        ("Sat, 21 Nov 2026 10:00:00 GMT", 1795255200.0),  # not ISO: the dateutil fallback
        (None, None),
        ("", None),
    ],
)
def test_hub_timestamps(value: str | None, expected: float | None) -> None:
    assert epoch(value) == (pytest.approx(expected) if expected is not None else None)


def test_store_survives_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.sqlite"
    key = ServerKey("alice", "", "2026-01-01T00:00:00Z")
    store = CullerStore(url)
    rec = ServerRecord(key, holds_gpu=True, gpus=2)
    rec.state = ServerState(
        idle_seconds=900,
        last_observed=10.0,
        warned_at=5.0,
        stop_at=905.0,
        postponements_used=1,
        last_keep_seen=7.0,
    )
    rec.add_usage(Usage(active=10, idle=20, unknown=30))
    store.save([rec], known=set())
    store.record_events([(5.0, key, "warn", "idle")])
    store.close()

    again = CullerStore(url)
    loaded = again.load_running()
    assert loaded[key].state == rec.state
    assert (loaded[key].active_s, loaded[key].idle_s, loaded[key].unknown_s) == (20, 40, 60)
    loaded[key].add_usage(Usage(idle=60))
    again.save(loaded.values(), known=set(loaded))
    assert again.usage()[key] == (20, 160, 60)
    again.mark_ended([key], 99.0, "stopped")
    assert again.load_running() == {}
    assert again.usage()[key] == (20, 160, 60)
    assert again.events(key)[0]["action"] == "warn"


class Flaky(RequestHandler):
    calls = 0

    def get(self) -> None:
        type(self).calls += 1
        if type(self).calls <= 2:
            self.set_status(503)
            self.finish("hub restarting")
            return
        self.set_header("Content-Type", "application/json")
        page = self.get_argument("offset", "0")
        nxt = None if page == "1" else {"url": self.request.full_url() + "&offset=1"}
        users = [
            {
                "name": f"u{page}",
                "groups": ["g"],
                "servers": {
                    "": {
                        "ready": True,
                        "started": "2026-01-01T00:00:00Z",
                        "url": f"/user/u{page}/",
                    },
                    "pending": {"ready": False, "pending": "spawn"},
                },
            }
        ]
        self.finish(json.dumps({"items": users, "_pagination": {"next": nxt}}))

    def delete(self) -> None:
        self.set_status(404 if "gone" in self.request.path else 204)


@contextlib.asynccontextmanager
async def flaky_hub() -> AsyncIterator[str]:
    """Started inside the test, so it serves on the test's own event loop."""
    Flaky.calls = 0
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application([(r"/hub/api/users.*", Flaky)]))
    server.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hub/api"
    server.stop()


async def test_hub_errors_are_retried_with_backoff() -> None:
    async with flaky_hub() as url:
        await check_retries(url)


async def check_retries(flaky_hub: str) -> None:
    delays: list[float] = []

    async def sleep(d: float) -> None:
        delays.append(d)
        await asyncio.sleep(0)

    client = RetryingClient("t", retries=3, backoff=0.5, sleep=sleep)
    hub = HubClient(flaky_hub, client)
    servers = await hub.ready_servers()
    assert [(s.user, s.name, s.groups) for s in servers] == [
        ("u0", "", frozenset({"g"})),
        ("u1", "", frozenset({"g"})),
    ]
    assert delays == [0.5, 1.0]
    gone = HubServer("gone", "", "", None, "/user/gone/")
    assert await hub.stop_server(gone) is True


async def test_hub_down_raises_hub_error_after_retries() -> None:
    async def sleep(d: float) -> None:
        return None

    client = RetryingClient("t", retries=2, sleep=sleep, request_timeout=2)
    with pytest.raises(HubError, match="after 3 attempts"):
        await HubClient("http://127.0.0.1:9/hub/api", client).ready_servers()
