"""Discovery and JWKS: fetched without blocking the hub's loop, concurrent refetches shared.

The counting tests talk to the real development OpenID provider through tornado's
AsyncHTTPClient (what the authenticator uses) and count the requests made to it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from tornado.httpclient import AsyncHTTPClient

from jupyterhub_imagine.auth.discovery import ProviderInfo
from tests.auth.hub import Hub
from tests.support.oidc import OIDCProvider


class CountingFetch:
    """Real HTTP GETs to the provider, counted per URL."""

    def __init__(self) -> None:
        self.client = AsyncHTTPClient(force_instance=True)
        self.calls: list[str] = []

    async def __call__(self, url: str) -> Any:
        self.calls.append(url)
        resp = await self.client.fetch(url, request_timeout=30)
        return json.loads(resp.body)

    def count(self, suffix: str) -> int:
        return sum(1 for url in self.calls if url.endswith(suffix))


@pytest.fixture
def provider(oidc_provider_factory: Callable[..., OIDCProvider]) -> OIDCProvider:
    return oidc_provider_factory(shape="checkin", clients=[])


@pytest.fixture
def counting() -> Iterator[CountingFetch]:
    fetch = CountingFetch()
    yield fetch
    fetch.client.close()


@pytest.mark.asyncio
async def test_concurrent_first_use_fetches_discovery_once(
    provider: OIDCProvider, counting: CountingFetch
):
    info = ProviderInfo(provider.issuer, counting)
    results = await asyncio.gather(*(info.metadata() for _ in range(20)))
    assert all(r["issuer"] == provider.issuer for r in results)
    assert counting.count("/.well-known/openid-configuration") == 1


@pytest.mark.asyncio
async def test_concurrent_logins_with_an_unknown_kid_fetch_the_keys_once(
    provider: OIDCProvider, counting: CountingFetch
):
    info = ProviderInfo(provider.issuer, counting, jwks_min_interval=0)
    first = provider.rotate_keys()[0]
    assert await info.signing_key(first) is not None
    assert counting.count("/certs") == 1
    new = provider.rotate_keys()[0]  # the provider signs with a key the hub has not seen
    keys = await asyncio.gather(*(info.signing_key(new) for _ in range(20)))
    assert all(k is not None and k["kid"] == new for k in keys)
    assert counting.count("/certs") == 2  # one refetch for the 20 logins, not 20


@pytest.mark.asyncio
async def test_a_failed_shared_refetch_fails_every_waiter_and_is_retried(
    provider: OIDCProvider, counting: CountingFetch
):
    info = ProviderInfo(provider.issuer, counting, jwks_min_interval=0)
    await info.metadata()
    provider.stop()
    results = await asyncio.gather(
        *(info.signing_key("k") for _ in range(5)), return_exceptions=True
    )
    assert all("cannot fetch the provider's keys" in str(r) for r in results)
    assert counting.count("/certs") == 1
    provider.start()  # same port: the issuer is unchanged
    kid = provider.rotate_keys()[0]
    assert await info.signing_key(kid) is not None  # nothing stuck in flight
    assert counting.count("/certs") == 2


class SlowDiscovery:
    """An issuer whose discovery answer waits until the test releases it."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.release = threading.Event()
        self.hits = 0
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                gate.hits += 1
                gate.requested.set()
                gate.release.wait(120)
                body = json.dumps(gate.metadata()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/realms/slow"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def metadata(self) -> dict[str, str]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/certs",
        }


@pytest.fixture
def slow_discovery() -> Iterator[SlowDiscovery]:
    gate = SlowDiscovery()
    gate.thread.start()
    yield gate
    gate.release.set()
    gate.server.shutdown()
    gate.server.server_close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    hub = Hub(tmp_path, {})
    yield hub
    hub.stop()


def test_the_hub_serves_while_discovery_is_slow(hub: Hub, slow_discovery: SlowDiscovery):
    hub.authenticator = {
        "issuer": slow_discovery.issuer,
        "client_id": "x",
        "client_secret": "y",
        "discovery_timeout": 120.0,
    }
    hub.start()  # returns once /hub/api answers
    assert slow_discovery.requested.wait(60), hub.log
    assert not slow_discovery.release.is_set()
    # discovery is still waiting for its answer; the hub's loop serves other requests
    assert requests.get(f"{hub.url}/hub/api", timeout=10).status_code == 200
    assert requests.get(f"{hub.url}/hub/login", timeout=10).status_code == 200
    slow_discovery.release.set()
    r = requests.get(f"{hub.url}/hub/oauth_login", allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    assert r.headers["location"].startswith(f"{slow_discovery.issuer}/auth?")
    assert "nonce=" in r.headers["location"]
    assert slow_discovery.hits == 1  # the login used the document fetched at start-up
