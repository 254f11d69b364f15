"""One cull cycle's wall time against a real JupyterHub with many running servers, beside
jupyterhub-idle-culler's cycle on the same hub.

Usage: python bench/culler_cycle.py [--servers 1000 5000] [--gpu-fraction 0.1] [--repeat 3]
                                   [--source server|prometheus|both]

The hub is real (JupyterHub + configurable-http-proxy, from the tests' launcher); its servers
come from ``ClaimsRunningSpawner``, a test spawner that starts nothing and claims to be running
at one shared loopback HTTP server (below), which answers the hub's readiness check and the culling
extension's ``GET activity`` (no GPU, or a busy GPU for ``--gpu-fraction`` of the users). The
hub accepts these servers like any other: it spawns them through its REST API, routes them in
the proxy and lists them as ready. The same loopback server serves ``/metrics`` as a DCGM
exporter would (one series per GPU user's pod), which a real Prometheus scrapes for
``--source prometheus``.

Measured, per size and source: jupyterhub-idle-culler 2's ``cull_idle`` (timeout 3600 s,
nothing due); IdleGPUCuller's first cycle and its steady cycle. With the server source the first
cycle asks each new server once whether it holds GPUs; later cycles read the GPU servers only.
With Prometheus every cycle is the hub listing plus one query. Each figure is the median of
``--repeat`` runs, the two cullers alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from jupyterhub.spawner import Spawner

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.support.launcher import HubProcess  # noqa: E402
from tests.support.net import free_port  # noqa: E402

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
CULLER_TOKEN = "bench-culler-token-0123456789abcdef"
SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers", "access:servers"]


class ClaimsRunningSpawner(Spawner):
    """A test spawner: starts nothing, claims a server at $BENCH_FAKE_SERVER (host:port)."""

    async def start(self) -> tuple[str, int]:
        host, port = os.environ["BENCH_FAKE_SERVER"].split(":")
        return host, int(port)

    async def poll(self) -> None:
        return None  # always "running"

    async def stop(self, now: bool = False) -> None:
        return None


def dcgm_exposition(gpu_users: set[str]) -> bytes:
    """DCGM-exporter-shaped series, one busy GPU per GPU user's pod (KubeSpawner's names)."""
    from jupyterhub_imagine.culler.hub import HubServer
    from jupyterhub_imagine.culler.sources import kubespawner_pod_name

    lines = ["# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge"]
    for user in sorted(gpu_users):
        pod = kubespawner_pod_name(HubServer(user, "", "", None, ""))
        lines.append(f'DCGM_FI_PROF_GR_ENGINE_ACTIVE{{gpu="0",pod="{pod}",namespace="bench"}} 0.8')
    return ("\n".join(lines) + "\n").encode()


def fake_server(gpu_users: set[str]) -> ThreadingHTTPServer:
    """Answers every server URL; the culling extension's activity route per user; and
    /metrics, a DCGM exporter for Prometheus."""
    exposition = dcgm_exposition(gpu_users)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/metrics":
                self.reply(exposition, "text/plain; version=0.0.4")
                return
            parts = self.path.split("/")
            user = parts[2] if len(parts) > 2 and parts[1] == "user" else ""
            now = time.time()
            gpus = [{"index": 0, "utilization": 80.0}] if user in gpu_users else []
            body = json.dumps(
                {
                    "now": now,
                    "gpu": {"available": bool(gpus), "gpus": gpus, "sampled_at": now},
                    "last_presence": None,
                    "keep_requested_at": None,
                    "warning": None,
                }
            ).encode()
            self.reply(body, "application/json")

        def reply(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        # the default listen backlog (5) resets connections under 20 concurrent reads
        request_queue_size = 1024

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


BENCH_HUB_CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "culler_cycle.ClaimsRunningSpawner"
c.JupyterHub.concurrent_spawn_limit = 0
c.JupyterHub.last_activity_interval = 3600
c.JupyterHub.cleanup_servers = False  # stopping fake servers at exit is pointless
c.JupyterHub.services.append({{"name": "culler", "api_token": {token!r}}})
c.JupyterHub.load_roles.append({{"name": "bench-culler", "scopes": {scopes!r},
                                "services": ["culler"]}})
"""


def start_hub(root: Path, fake: str, wait: float = 60) -> HubProcess:
    """The tests' hub launcher (JupyterHub + configurable-http-proxy) with the claiming
    spawner; it stops everything it started when it fails to come up."""
    hub = HubProcess(
        root,
        BENCH_HUB_CONFIG.format(token=CULLER_TOKEN, scopes=SCOPES),
        env={"BENCH_FAKE_SERVER": fake, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])},
        token=ADMIN_TOKEN,
    )
    try:
        return hub.start(timeout=wait)
    except (RuntimeError, TimeoutError) as e:
        raise SystemExit(str(e)) from None


def populate(root: Path, names: list[str], fake: str) -> None:
    """Write running servers into the (stopped) hub's database with the hub's own ORM; at its
    next start the hub polls each spawner, which claims to run, checks it answers and routes it
    (much faster than thousands of spawns through the API on a small machine)."""
    from datetime import datetime, timezone

    from jupyterhub import orm

    host, port = fake.split(":")
    db = orm.new_session_factory(f"sqlite:///{root}/jupyterhub.sqlite")()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for name in names:
        user = orm.User(name=name)
        db.add(user)
        spawner = orm.Spawner(name="", user=user, started=now, last_activity=now, state={})
        spawner.server = orm.Server(ip=host, port=int(port), base_url=f"/user/{name}/")
        db.add(spawner)
    db.commit()
    db.close()


def wait_ready(api: str, n: int) -> None:
    headers = {"Authorization": f"token {ADMIN_TOKEN}"}
    accept = {"Accept": "application/jupyterhub-pagination+json"}
    deadline = time.time() + 1200
    while time.time() < deadline:
        page = requests.get(
            f"{api}/users",
            params={"state": "ready", "limit": 1},
            headers=headers | accept,
            timeout=300,
        ).json()
        if page["_pagination"]["total"] >= n:
            return
        time.sleep(2)
    raise SystemExit("servers did not all become ready")


def spawn(api: str, names: list[str]) -> None:
    """Create users and start their servers through the hub API (50 at a time)."""
    headers = {"Authorization": f"token {ADMIN_TOKEN}"}
    for i in range(0, len(names), 500):
        r = requests.post(
            f"{api}/users", json={"usernames": names[i : i + 500]}, headers=headers, timeout=300
        )
        r.raise_for_status()

    def one(name: str) -> None:
        r = requests.post(f"{api}/users/{name}/server", headers=headers, timeout=300)
        if r.status_code not in (201, 202, 400):
            raise RuntimeError(f"spawn {name}: {r.status_code} {r.text}")

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(50) as pool:
        list(pool.map(one, names))
    wait_ready(api, len(names))


async def stock_cycle(api: str) -> float:
    from jupyterhub_idle_culler import cull_idle

    started = time.perf_counter()
    await cull_idle(
        url=api, api_token=CULLER_TOKEN, inactive_limit=3600, logger=logging.getLogger("stock")
    )
    return time.perf_counter() - started


def start_prometheus(root: Path, exporter: str) -> tuple[subprocess.Popen[bytes], str]:
    """A real Prometheus scraping the fake DCGM exporter every 2 s; returns once it has series."""
    binary = shutil.which("prometheus")
    if not binary:
        raise SystemExit(
            "--source prometheus needs the prometheus binary (apt-get install prometheus)"
        )
    (root / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 2s\nscrape_configs:\n  - job_name: dcgm\n"
        f"    static_configs:\n      - targets: ['{exporter}']\n"
    )
    port = free_port()
    log = open(root / "prometheus.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            r = requests.get(
                f"{url}/api/v1/query", params={"query": "DCGM_FI_PROF_GR_ENGINE_ACTIVE"}, timeout=2
            )
            if r.ok and r.json()["data"]["result"]:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.5)
    stop(proc)
    raise SystemExit((root / "prometheus.log").read_text()[-2000:])


def make_culler(api: str, public: str, db: Path, prometheus: str = ""):  # type: ignore[no-untyped-def]
    from jupyterhub_imagine.culler.app import IdleGPUCuller

    culler = IdleGPUCuller(
        api_url=api,
        api_token=CULLER_TOKEN,
        servers_url=public,
        activity_source="prometheus" if prometheus else "server",
        prometheus_url=prometheus or "http://127.0.0.1:9090",
        db_url=f"sqlite:///{db}",
        service_url="",
        timeout=3600,
    )
    culler.log.setLevel(logging.WARNING)
    return culler


async def our_cycle(culler, expect_gpu: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    report = await culler.cycle()
    took = time.perf_counter() - started
    if report.errors:
        print("  errors:", report.errors[:3])
    if report.gpu_servers != expect_gpu:
        # a cycle that missed GPU servers did less work: its time would flatter us
        print(f"  WARNING: {report.gpu_servers} GPU servers seen, {expect_gpu} expected")
    return took


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def measure(n: int, gpu_fraction: float, repeat: int, how: str, source: str) -> None:
    names = [f"u{i:05d}" for i in range(n)]
    step = round(1 / gpu_fraction) if gpu_fraction else 0
    gpu_users = {u for i, u in enumerate(names) if step and i % step == 0}
    fake = fake_server(gpu_users)
    root = Path(tempfile.mkdtemp(prefix="culler-cycle-"))
    address = f"127.0.0.1:{fake.server_address[1]}"
    hub = start_hub(root, address)
    prometheus = None
    try:
        t0 = time.perf_counter()
        if how == "api":
            spawn(hub.hub_api, names)
        else:
            hub.stop()
            populate(root, names, address)
            # at start-up the hub checks every running server before it answers
            hub = start_hub(root, address, wait=1800)
            wait_ready(hub.hub_api, n)
        api, public = hub.hub_api, hub.url
        print(f"{n} servers ready in {time.perf_counter() - t0:.0f} s ({len(gpu_users)} with GPUs)")
        if source == "prometheus":
            prometheus, prometheus_url = start_prometheus(root, address)
        culler = make_culler(
            api, public, root / "culler.sqlite", prometheus_url if prometheus else ""
        )

        async def run() -> tuple[float, list[float], list[float]]:
            first = await our_cycle(culler, len(gpu_users))
            stock, ours = [], []
            for _ in range(repeat):
                stock.append(await stock_cycle(api))
                ours.append(await our_cycle(culler, len(gpu_users)))
            return first, stock, ours

        first, stock, ours = asyncio.run(run())
        s, o = statistics.median(stock), statistics.median(ours)
        print(f"  jupyterhub-idle-culler cycle: {s:.2f} s  (runs: {fmt(stock)})")
        print(f"  IdleGPUCuller first cycle:    {first:.2f} s  (source: {source})")
        print(f"  IdleGPUCuller steady cycle:   {o:.2f} s  (runs: {fmt(ours)})")
        print(f"  ratio steady / stock:         {o / s:.2f}  (target <= 1.2)")
    finally:
        if prometheus is not None:
            stop(prometheus)
        hub.stop()
        fake.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--gpu-fraction", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--populate",
        choices=["db", "api"],
        default="db",
        help="db: write the servers into the hub database before a restart (fast); "
        "api: spawn each through the REST API",
    )
    parser.add_argument(
        "--source",
        choices=["server", "prometheus", "both"],
        default="both",
        help="GPU activity source: each server's endpoint, one Prometheus query, or both in turn",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    sources = ["server", "prometheus"] if args.source == "both" else [args.source]
    for n in args.servers:
        for source in sources:
            measure(n, args.gpu_fraction, args.repeat, args.populate, source)


if __name__ == "__main__":
    main()
