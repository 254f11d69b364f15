"""The emulated cluster's network: pod addresses, Services and a FAKE kube-proxy.

Every pod of the emulated cluster gets its own loopback address (127.A.B.n; Linux routes the
whole 127.0.0.0/8 to the loopback device, so nothing needs configuring). A cluster picks a
random 127.A.B.0/24 of its own, so clusters of different test runs on one machine do not meet,
and pods keep the ports Kubernetes gives them (8888 for every user server, 8081 for the hub,
10101 for the culler) on their own addresses.

No cluster DNS runs here. Service names are resolved once, when the hub pod loads its
configuration (``Services.resolve_url``): ``http://hub:8081`` becomes the address of the FAKE
kube-proxy of the hub Service, ``http://proxy-public`` the proxy pod's port 8000 (Z2JH's
proxy-public Service maps 80 to 8000), and so on. A process that binds 0.0.0.0 in its pod binds
its pod's address instead (``bind_in_pod``): in a pod, all addresses are the pod's.

``ServiceProxy`` is the FAKE kube-proxy in front of the hub's API port: it forwards every
request to the hub pod and lets a test drop one user server from the next listing of ready
servers, as offset pagination does while servers stop.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

HUB_API_PORT = 8081
PROXY_PUBLIC_PORT = 8000
PROXY_API_PORT = 8001
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "content-encoding"}


def _bindable(ip: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


@dataclass
class Network:
    """Addresses of one emulated cluster: .1 hub pod, .2 proxy pod, .3 hub Service, .10+ pods."""

    prefix: str
    next_pod: int = 10
    released: list[str] = field(default_factory=list)

    @classmethod
    def pick(cls, ports: tuple[int, ...] = (HUB_API_PORT, PROXY_PUBLIC_PORT, PROXY_API_PORT,
                                           8888, 10101)) -> Network:
        """A random 127.A.B.0/24 whose fixed addresses can bind the ports the cluster uses."""
        rng = random.SystemRandom()
        for _ in range(50):
            net = cls(f"127.{rng.randint(100, 250)}.{rng.randint(1, 254)}")
            if all(_bindable(net.addr(n), p) for n in (1, 2, 3, 10) for p in ports):
                return net
        raise RuntimeError(f"no free loopback /24 for an emulated cluster (ports {ports} taken "
                           "on all addresses by another process?)")

    def addr(self, n: int) -> str:
        return f"{self.prefix}.{n}"

    @property
    def hub_pod(self) -> str:
        return self.addr(1)

    @property
    def proxy_pod(self) -> str:
        return self.addr(2)

    @property
    def hub_service(self) -> str:
        return self.addr(3)

    def pod_ip(self) -> str:
        """An address for a new pod (addresses of deleted pods are reused last)."""
        if self.next_pod <= 250:
            self.next_pod += 1
            return self.addr(self.next_pod - 1)
        if self.released:
            return self.released.pop(0)
        raise RuntimeError("the emulated cluster ran out of pod addresses")

    def release(self, ip: str) -> None:
        self.released.append(ip)


@dataclass
class Services:
    """Service name and port -> where the emulated cluster serves them."""

    table: dict[tuple[str, int], tuple[str, int]]

    @classmethod
    def for_cluster(cls, net: Network, hub_extra_ports: list[dict[str, Any]]) -> Services:
        table = {
            ("hub", HUB_API_PORT): (net.hub_service, HUB_API_PORT),  # through the kube-proxy
            ("proxy-public", 80): (net.proxy_pod, PROXY_PUBLIC_PORT),
            ("proxy-api", PROXY_API_PORT): (net.proxy_pod, PROXY_API_PORT),
        }
        for port in hub_extra_ports:  # the chart's hub.service.extraPorts
            table[("hub", int(port["port"]))] = (net.hub_pod, int(port["targetPort"]))
        return cls(table)

    def resolve_url(self, url: str) -> str:
        """``url`` with a Service host:port replaced by the address serving it."""
        parts = urlsplit(url)
        if not parts.hostname:
            return url
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = self.table.get((parts.hostname, port))
        if target is None:
            return url
        return urlunsplit(parts._replace(netloc=f"{target[0]}:{target[1]}"))

    def as_json(self) -> list[list[Any]]:
        return [[name, port, ip, target] for (name, port), (ip, target) in self.table.items()]

    @classmethod
    def from_json(cls, rows: list[list[Any]]) -> Services:
        return cls({(r[0], int(r[1])): (r[2], int(r[3])) for r in rows})


def bind_in_pod(url: str, pod_ip: str) -> str:
    """A bind URL as the pod's process sees it: 0.0.0.0 (any address) is its own address."""
    parts = urlsplit(url)
    if parts.hostname not in ("0.0.0.0", "", "::"):
        return url
    netloc = f"{pod_ip}:{parts.port}" if parts.port else pod_ip
    return urlunsplit(parts._replace(netloc=netloc))


class ServiceProxy:
    """FAKE kube-proxy for one Service port: forwards HTTP to the pod behind it.

    ``drop_from_next_listing(user, times)``: the next ``times`` answers to
    ``GET .../users?state=ready`` that list ``user`` leave that user out.
    """

    def __init__(self, listen: tuple[str, int], target: str) -> None:
        self.listen = listen
        self.target = target.rstrip("/")
        self.to_drop: dict[str, int] = {}
        self.dropped: list[str] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
        )
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, *self.listen, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def drop_from_next_listing(self, user: str, times: int = 1) -> None:
        """Leave ``user`` out of the next ``times`` listings of ready servers."""
        self.to_drop[user] = self.to_drop.get(user, 0) + times

    def _filter(self, request: web.Request, body: bytes) -> bytes:
        if not self.to_drop or request.method != "GET" or not request.path.endswith("/users"):
            return body
        if request.query.get("state") != "ready":
            return body
        data = json.loads(body)
        items = data["items"] if isinstance(data, dict) else data
        kept = [u for u in items if u.get("name") not in self.to_drop]
        gone = {u["name"] for u in items} & set(self.to_drop)
        if not gone:
            return body
        for name in gone:
            self.to_drop[name] -= 1
            if not self.to_drop[name]:
                del self.to_drop[name]
        self.dropped += sorted(gone)
        if isinstance(data, dict):
            data["items"] = kept
            return json.dumps(data).encode()
        return json.dumps(kept).encode()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers["Host"] = request.host
        url = self.target + request.rel_url.raw_path_qs
        body = await request.read()
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, data=body or None, allow_redirects=False
            )
        except (aiohttp.ClientError, OSError):
            return web.Response(status=502, text="the hub pod does not answer")
        async with upstream:
            out_headers = CIMultiDict((k, v) for k, v in upstream.headers.items()
                                      if k.lower() not in HOP_HEADERS)  # many Set-Cookie
            if upstream.headers.get("Content-Encoding"):
                out_headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            kind = upstream.headers.get("Content-Type", "")
            if kind.startswith("text/event-stream"):
                response = web.StreamResponse(status=upstream.status, headers=out_headers)
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                return response
            data = await upstream.read()
            if upstream.status == 200 and kind.startswith("application/json") and \
                    not upstream.headers.get("Content-Encoding"):
                data = self._filter(request, data)
            return web.Response(status=upstream.status, body=data, headers=out_headers)


async def wait_port(ip: str, port: int, timeout: float) -> bool:
    """Whether something accepts TCP connections on ip:port within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 2)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return True
    return False
