"""PrometheusSource against a real Prometheus (Debian package) scraping a test exporter whose
DCGM-shaped values the test sets."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from jupyterhub_imagine.culler.hub import HubServer
from jupyterhub_imagine.culler.sources import MetricSpec, PrometheusSource, kubespawner_pod_name

from .hub_fixture import free_port

pytestmark = pytest.mark.timeout(180)


def prometheus_binary() -> str:
    """The Debian package's binary, which `make system-deps` (run by `make test`) installs;
    tests never install anything."""
    found = shutil.which("prometheus")
    if not found:
        pytest.fail("prometheus is not installed: run `make system-deps` (`make test` runs it; "
                    "it installs the Debian package prometheus)")
    return found


@dataclass
class Exporter:
    """Serves /metrics in the text exposition format; ``lines`` are the series."""

    lines: list[str] = field(default_factory=list)
    port: int = 0

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    state = Exporter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = state.text()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()  # the listening socket too


@pytest.fixture(scope="module")
def prometheus(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = (
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: dcgm\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter.port}']\n"
    )
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), config) as url:
        yield url


@contextmanager
def running_prometheus(root: Path, config: str) -> Iterator[str]:
    """A real Prometheus on a free loopback port with ``config``; yields its URL once ready."""
    (root / "prometheus.yml").write_text(config)
    port = free_port()
    log = open(root / "log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root}/data",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/-/ready", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            pytest.fail((root / "log").read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def server(user: str, name: str = "") -> HubServer:
    return HubServer(user, name, "2026-01-01T00:00:00Z", None, f"/user/{user}/{name}")


def series(metric: str, pod: str, value: float, gpu: int = 0, pod_label: str = "pod") -> str:
    return f'{metric}{{gpu="{gpu}",{pod_label}="{pod}",namespace="jhub"}} {value}'


def wait_for(source: PrometheusSource, servers: list[HubServer], check: object) -> dict:
    deadline = time.time() + 30
    while True:
        got = asyncio.run(source.read(servers, time.time()))
        if check(got) or time.time() > deadline:  # type: ignore[operator]
            return got
        time.sleep(0.5)


def test_dcgm_series_with_fallback_scale_and_gpu_count(exporter: Exporter, prometheus: str) -> None:
    prof, util = "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_GPU_UTIL"
    users = [server("alice"), server("bob"), server("carol", "big"), server("dave")]
    pods = [kubespawner_pod_name(s) for s in users]
    assert pods[0] == "jupyter-alice" and pods[2] == "jupyter-carol--big"
    exporter.lines = [
        series(prof, pods[0], 0.5),  # ratio 0-1
        series(util, pods[0], 3),  # ignored: alice has the preferred metric
        series(util, pods[1], 30),  # fallback, percent
        series(prof, pods[2], 0.0, gpu=0),
        series(prof, pods[2], 0.9, gpu=1),  # any busy GPU keeps the server
        series(prof, "jupyter-other", 0.7, gpu=0),
    ]
    source = PrometheusSource(prometheus, namespace="jhub", window=30)
    got = wait_for(
        source,
        users,
        lambda g: g[("bob", "")].utilization is not None and g[("carol", "big")].gpus == 2,
    )
    assert got[("alice", "")].utilization == pytest.approx(50)
    assert got[("alice", "")].holds_gpu is True
    assert got[("bob", "")].utilization == pytest.approx(30)
    carol = got[("carol", "big")]
    assert carol.utilization == pytest.approx(90) and carol.gpus == 2
    # no series: CPU-only or metrics missing, the source cannot tell
    assert got[("dave", "")].holds_gpu is None and got[("dave", "")].utilization is None


def test_exported_pod_labels_and_missing_prometheus(exporter: Exporter, prometheus: str) -> None:
    users = [server("erin")]
    exporter.lines = [
        series("DCGM_FI_DEV_GPU_UTIL", "jupyter-erin", 0.25, pod_label="exported_pod")
    ]
    source = PrometheusSource(
        prometheus,
        pod_label="exported_pod",
        window=30,
        metrics=[MetricSpec("DCGM_FI_DEV_GPU_UTIL", 1.0)],
    )
    got = wait_for(source, users, lambda g: g[("erin", "")].utilization is not None)
    assert got[("erin", "")].utilization == pytest.approx(25)

    down = PrometheusSource(f"http://127.0.0.1:{free_port()}", window=30)
    reading = asyncio.run(down.read(users, time.time()))[("erin", "")]
    assert reading.utilization is None and reading.error
