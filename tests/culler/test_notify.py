"""The warning notification hook: a real command gets the payload on stdin, a real webhook gets it
as a JSON POST; failures are logged and never raised."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from jupyterhub_imagine.contract import CullWarning
from jupyterhub_imagine.culler.app import IdleGPUCuller
from jupyterhub_imagine.culler.decide import Action, Decision, ServerState
from jupyterhub_imagine.culler.hub import HubServer
from jupyterhub_imagine.culler.notify import WarningNotifier, notify_warning, warning_event
from jupyterhub_imagine.culler.store import ServerKey, ServerRecord
from tests.support.net import free_port

pytestmark = pytest.mark.asyncio

EVENT = warning_event("alice", "gpu", "/user/alice/gpu/", 1767225600.0, "GPU idle for 01:00:00")
# the command writes what it read on stdin, and its argv, to the file named in argv[1]
RECORDER = (
    "import json, sys; data = sys.stdin.read(); "
    "open(sys.argv[1], 'w').write(json.dumps({'stdin': data, 'argv': sys.argv[1:]}))"
)


def recorder(out: Path) -> list[str]:
    return [sys.executable, "-c", RECORDER, str(out), "--name=$USER; rm -rf x"]


async def test_a_real_command_receives_the_payload_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    assert await WarningNotifier(command=recorder(out)).notify(EVENT)
    got = json.loads(out.read_text())
    payload = json.loads(got["stdin"])
    assert payload == {
        "event": "gpu-idle-warning",
        "user": "alice",
        "server": "gpu",
        "server_url": "/user/alice/gpu/",
        "stop_at": 1767225600.0,
        "stop_at_iso": "2026-01-01T00:00:00+00:00",
        "reason": "GPU idle for 01:00:00",
    }
    # no shell: the argument arrives verbatim
    assert got["argv"][1] == "--name=$USER; rm -rf x"


@pytest.mark.parametrize(
    ("command", "logged"),
    [
        ([sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(3)"], "exited 3"),
        (["/nonexistent/notify-gpu"], "failed to start"),
        ([sys.executable, "-c", "import time; time.sleep(30)"], "timed out"),
    ],
)
async def test_a_failing_command_is_logged_never_raised(
    command: list[str], logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = WarningNotifier(command=command, timeout=2.0)
    with caplog.at_level(logging.WARNING):
        assert await notifier.notify(EVENT) is False
    assert logged in caplog.text


class Receiver(RequestHandler):
    def post(self) -> None:
        self.settings["got"].append((self.request.headers["Content-Type"], self.request.body))
        self.set_status(int(self.get_query_argument("status", "204")))


@pytest_asyncio.fixture
async def webhook() -> Any:
    got: list[tuple[str, bytes]] = []
    port = free_port()
    server = HTTPServer(Application([("/hook", Receiver)], got=got))
    server.listen(port, "127.0.0.1")
    try:
        yield f"http://127.0.0.1:{port}/hook", got
    finally:
        server.stop()


async def test_a_webhook_receives_the_payload_as_json(webhook: Any) -> None:
    url, got = webhook
    assert await WarningNotifier(url=url).notify(EVENT)
    [(ctype, body)] = got
    assert ctype == "application/json" and json.loads(body) == EVENT


async def test_a_failing_webhook_is_logged_never_raised(
    webhook: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url, got = webhook
    with caplog.at_level(logging.WARNING):
        assert await WarningNotifier(url=url + "?status=500").notify(EVENT) is False
        assert await WarningNotifier(url=f"http://127.0.0.1:{free_port()}/").notify(EVENT) is False
    assert len(got) == 1 and "webhook for alice/gpu failed" in caplog.text


class FakeServers:
    """FAKE user-server client: records the warnings the culler PUTs."""

    def __init__(self) -> None:
        self.put: list[CullWarning] = []

    async def put_warning(self, server: HubServer, payload: CullWarning) -> None:
        self.put.append(payload)


@pytest.mark.fake
async def test_the_culler_calls_the_command_when_it_delivers_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    culler = IdleGPUCuller(api_token="culler-secret-token", config=_config(recorder(out)))
    culler.servers = FakeServers()
    server = HubServer("bob", "", "2026-01-01T00:00:00Z", None, "/user/bob/")
    record = ServerRecord(ServerKey("bob", "", "2026-01-01T00:00:00Z"))
    state = ServerState(idle_seconds=3600, last_observed=1000.0, warned_at=1000.0, stop_at=1900.0)
    warn = Decision(Action.WARN, "GPU idle for 01:00:00", state)
    await culler.apply(server, record, warn, _report())
    payload = json.loads(json.loads(out.read_text())["stdin"])
    assert (payload["user"], payload["server"], payload["stop_at"]) == ("bob", "", 1900.0)
    assert "culler-secret-token" not in out.read_text()
    # a postponement re-sends the warning to the server but does not notify again
    out.unlink()
    await culler.apply(server, record, Decision(Action.POSTPONE, "kept", state), _report())
    assert len(culler.servers.put) == 2 and not out.exists()


async def test_no_command_or_url_is_a_no_op() -> None:
    server = HubServer("bob", "", "2026-01-01T00:00:00Z", None, "/user/bob/")
    warning = CullWarning(
        issued_at=0.0, stop_at=1.0, reason="x", postponements_left=0, postpone_by=0.0
    )
    assert await notify_warning(IdleGPUCuller(), server, warning)


def _config(command: list[str]) -> Any:
    from traitlets.config import Config

    c = Config()
    c.WarningNotifier.command = command
    return c


def _report() -> Any:
    from jupyterhub_imagine.culler.app import CycleReport

    return CycleReport()
