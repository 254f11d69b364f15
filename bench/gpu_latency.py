"""Latency of GET /jupyterhub-imagine/api/gpu under concurrent clients (FAKE NVML sampler).

Starts a real jupyter-server with the extension; NVML is the FAKE module from
tests/support/fake_nvml.py (no GPU is needed). Prints p50/p99 per sampler cache setting.

    python bench/gpu_latency.py [--clients 20] [--requests 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    url: str
    token: str
    workdir: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(extra_args: list[str], env: dict[str, str] | None = None) -> Iterator[Server]:
    """A jupyter-server with the extension, in a throw-away home and Jupyter directories."""
    with tempfile.TemporaryDirectory(prefix="imagine-bench-") as tmp:
        work = Path(tmp)
        port, token = _free_port(), secrets.token_hex(16)
        child_env = {
            **os.environ,
            "HOME": str(work),
            "JUPYTER_DATA_DIR": str(work / "data"),
            "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
            "JUPYTER_CONFIG_DIR": str(work / "config"),
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            **(env or {}),
        }
        argv = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--ServerApp.log_level=WARN",
            "--ServerApp.jpserver_extensions={'jupyterhub_imagine': True}",
            f"--ImagineMountManager.root={work / 'mounts'}",
            *extra_args,
        ]
        log = open(work / "server.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(argv, env=child_env, stdout=log, stderr=log, cwd=work)
        try:
            _wait_for(port, proc, work / "server.log")
            yield Server(f"http://127.0.0.1:{port}", token, work)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def _wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"jupyter-server exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("jupyter-server did not start in 60 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def hammer(server: Server, path: str, clients: int, requests: int) -> list[float]:
    """`clients` concurrent loops of `requests` sequential GETs; returns latencies in ms."""
    http = AsyncHTTPClient(force_instance=True, max_clients=clients)
    headers = {"Authorization": f"token {server.token}"}
    latencies: list[float] = []

    async def client() -> None:
        for _ in range(requests):
            start = time.perf_counter()
            response = await http.fetch(HTTPRequest(server.url + path, headers=headers))
            latencies.append((time.perf_counter() - start) * 1000)
            json.loads(response.body)

    await asyncio.gather(*(client() for _ in range(clients)))
    http.close()
    return latencies


def fake_gpus(path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from tests.support import fake_nvml

    fake_nvml.write_state(
        str(path),
        [fake_nvml.a100(f"GPU-{i}", utilization=10 * i, memory_used=2**30) for i in range(4)],
    )


@dataclass
class Figures:
    latencies: list[float]
    seconds: float

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


def measure(server: Server, paths: list[str], clients: int, requests: int,
            rounds: int) -> dict[str, Figures]:
    """Alternate the paths round by round, so a busy moment of a shared machine hits them all."""
    figures = {p: Figures([], 0.0) for p in paths}
    for path in paths:
        asyncio.run(hammer(server, path, 4, 5))  # warm-up
    for _ in range(rounds):
        for path in paths:
            start = time.perf_counter()
            figures[path].latencies += asyncio.run(hammer(server, path, clients, requests))
            figures[path].seconds += time.perf_counter() - start
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="per client and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per endpoint")
    args = parser.parse_args()
    print(f"{args.clients} concurrent clients x {args.requests} requests x {args.rounds} rounds, "
          "FAKE NVML (4 GPUs)")
    print(f"{'endpoint':<34} {'cache':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7}")
    floor = "/api/status"
    for cache in (1.0, 0.0):
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "nvml.json"
            fake_gpus(state)
            extra = [
                "--ImagineServerExtension.nvml_module=tests.support.fake_nvml",
                f"--ImagineServerExtension.gpu_cache_seconds={cache}",
            ]
            with running_server(extra, {"IMAGINE_FAKE_NVML": str(state)}) as server:
                paths = ["/jupyterhub-imagine/api/gpu"]
                if cache:  # baselines without NVML, in the same run: ours and jupyter-server's
                    paths += ["/jupyterhub-imagine/api/status", floor]
                figures = measure(server, paths, args.clients, args.requests, args.rounds)
                for path, f in figures.items():
                    print(
                        f"GET {path:<30} {cache:>5g}s {statistics.median(f.latencies):8.2f} "
                        f"{f.p99:8.2f} {max(f.latencies):8.2f} {f.rate:7.0f}"
                    )
                if floor in figures:
                    gpu, base = figures[paths[0]], figures[floor]
                    print(
                        f"/gpu against {floor} (same server, same run): p99 "
                        f"{gpu.p99 / base.p99:.2f}x (target <= 1.3x), throughput "
                        f"{gpu.rate / base.rate:.2f}x (target >= 0.8x)"
                    )


if __name__ == "__main__":
    main()
