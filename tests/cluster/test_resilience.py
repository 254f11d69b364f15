"""The culler and the hub failing on the emulated cluster: idle timers survive them.

FAKE: the Kubernetes API server, scheduler and kubelet, the kube-proxy of the hub Service
(which drops a server from one listing), and NVML in the pods (see cluster.py). The culler is
the chart's service under its default name, started and restarted by the real hub.
"""

from __future__ import annotations

import time

import pytest

from .cluster import EmulatedCluster, hub_user

pytestmark = [pytest.mark.fake, pytest.mark.cluster]
IDLE_TIMEOUT = 20
CLUSTER = {"gpu_idle_timeout": IDLE_TIMEOUT}
IDLE_SECONDS = 'imagine_culler_gpu_seconds_total{state="idle"}'


def idle_seconds_seen(cluster: EmulatedCluster) -> float:
    """Idle GPU-seconds the culler has counted (one idle single-GPU server: its idle time)."""
    return cluster.metrics().get(IDLE_SECONDS, 0.0)


def test_culler_killed_mid_idle_resumes_its_timer(cluster: EmulatedCluster) -> None:
    """SIGKILL the culler when the server has been idle for most of the idle timeout: the
    hub restarts it, and it warns once the rest of the timeout has passed, not a whole
    timeout after its restart."""
    cluster.start_server("ada")
    try:
        before = idle_seconds_seen(cluster)
        cluster.wait_for("the culler to count ada's server idle for most of the timeout",
                         lambda: idle_seconds_seen(cluster) - before >= IDLE_TIMEOUT - 4,
                         timeout=IDLE_TIMEOUT + 30)
        assert cluster.warning("ada") is None
        old = cluster.kill_culler()
        # the hub notices at its next poll of the service (up to 30 s) and starts it again
        (new,) = cluster.wait_for("the hub to restart the culler",
                                  lambda: [p for p in cluster.culler_pids() if p != old],
                                  timeout=60)
        restarted = time.time()
        warning = cluster.wait_for("a warning after the restart",
                                   lambda: cluster.warning("ada"), timeout=IDLE_TIMEOUT + 30)
        # the rest of the timer (about 4 s), plus the new culler's start-up: well below a
        # whole timeout
        assert warning["issued_at"] - restarted < IDLE_TIMEOUT - 6, warning
        cluster.wait_for("ada's idle server to be stopped",
                         lambda: not cluster.server("ada"), timeout=60)
        assert new in cluster.culler_pids()  # the same culler did it
    finally:
        cluster.stop_servers(["ada"])


@pytest.mark.parametrize("missed", [1, 2], ids=["one-listing", "two-listings"])
def test_server_missing_from_listings_is_still_culled(cluster: EmulatedCluster,
                                                      missed: int) -> None:
    """A server left out of listings of ready servers (offset pagination while servers stop
    does that) and listed again is still warned and stopped, and the culler goes on working
    without errors: after one missed listing it keeps its record, after two it ends the
    record and starts it again when the server is back."""
    cluster.start_server("ben")
    try:
        errors = cluster.metrics().get("imagine_culler_cycle_errors_total", 0.0)
        before = idle_seconds_seen(cluster)
        cluster.wait_for("the culler to count ben's server idle",
                         lambda: idle_seconds_seen(cluster) - before >= 5, timeout=60)
        assert cluster.hub_service is not None
        dropped = cluster.hub_service.dropped
        already = dropped.count(hub_user("ben"))
        cluster.hub_service.drop_from_next_listing(hub_user("ben"), missed)
        cluster.wait_for(f"{missed} listing(s) without ben's server",
                         lambda: dropped.count(hub_user("ben")) - already == missed)
        warning = cluster.wait_for("a warning on ben's server",
                                   lambda: cluster.warning("ben"), timeout=IDLE_TIMEOUT + 30)
        assert warning["stop_at"] > warning["issued_at"]
        cluster.wait_for("ben's idle server to be stopped",
                         lambda: not cluster.server("ben"), timeout=60)
        cluster.wait_cycle_after(time.time())
        assert cluster.metrics().get("imagine_culler_cycle_errors_total", 0.0) == errors
        assert cluster.metrics().get('imagine_culler_culls_total{reason="gpu-idle"}', 0) >= 1
    finally:
        cluster.stop_servers(["ben"])


def test_hub_restart_mid_cycle_keeps_servers_and_culling(cluster: EmulatedCluster) -> None:
    """The hub pod restarts (its culler with it) while the culler works: user pods and the
    proxy's routes outlive it, the new hub adopts the running server, and the culler started
    by the new hub warns and stops it."""
    pod = cluster.start_server("cy")
    try:
        before = idle_seconds_seen(cluster)
        cluster.wait_for("the culler to count cy's server idle",
                         lambda: idle_seconds_seen(cluster) - before >= 5, timeout=60)
        cluster.stop_hub()
        assert pod.proc.poll() is None, "the user's server died with the hub"
        assert not cluster.culler_pids()
        cluster.start_hub()
        assert cluster.server("cy").get("ready"), cluster.server("cy")
        assert cluster.pod("cy").proc.pid == pod.proc.pid  # the same server, adopted
        answer = cluster.server_api("cy", "GET", "jupyterhub-imagine/api/warning")
        assert answer.status_code == 200, answer.text  # reachable through the proxy
        warning = cluster.wait_for("a warning on cy's server after the restart",
                                   lambda: cluster.warning("cy"), timeout=IDLE_TIMEOUT + 40)
        assert warning["stop_at"] > warning["issued_at"]
        cluster.wait_for("cy's idle server to be stopped",
                         lambda: not cluster.server("cy"), timeout=60)
        cluster.wait_for("cy's pod to be deleted", lambda: cluster.pod_gone("cy"))
    finally:
        cluster.stop_servers(["cy"])
