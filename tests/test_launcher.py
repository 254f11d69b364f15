"""The one test-hub launcher (tests/support/launcher.py): a real JupyterHub with the project's
configurable-http-proxy, and nothing of either left once it is stopped, also when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import leaks
from tests.support.launcher import HubProcess
from tests.support.procs import _alive, descendants


def started_under(root: Path) -> dict[int, str]:
    """Hubs and proxies running with ``root`` in their command line or working directory."""
    return leaks.processes((str(root),))


def test_the_hub_answers_through_its_proxy_and_stops_with_it(tmp_path: Path) -> None:
    root = tmp_path / "hub"
    with HubProcess(root) as hub:
        assert hub.proc is not None
        assert hub.request("GET", "/users").status_code == 200  # the admin token works
        below = descendants(hub.proc.pid)
        assert any("configurable-http-proxy" in args for args in started_under(root).values())
        hub_pid = hub.proc.pid
    assert hub.proc is None
    assert not any(_alive(pid) for pid in [hub_pid, *below])
    assert started_under(root) == {}


def test_a_hub_that_does_not_come_up_in_time_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "hub"
    hub = HubProcess(root)
    with pytest.raises(TimeoutError, match="did not answer"):
        hub.start(timeout=0.5)  # still starting: the launcher gives up and stops it
    assert hub.proc is None and started_under(root) == {}


def test_a_hub_that_exits_at_start_says_why(tmp_path: Path) -> None:
    root = tmp_path / "hub"
    hub = HubProcess(root, "c.JupyterHub.authenticator_class = 'no-such-authenticator'\n")
    with pytest.raises(RuntimeError, match="jupyterhub exited"):
        hub.start(timeout=60)
    assert "no-such-authenticator" in hub.log_text()
    assert started_under(root) == {}
