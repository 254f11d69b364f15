"""Hub REST client (and the user servers behind the proxy) with retries on transient errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.httputil import url_concat

from .. import contract

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
RETRY_CODES = frozenset({429, 500, 502, 503, 504, 599})


def epoch(value: str | None) -> float | None:
    """The hub's ISO 8601 timestamps (UTC when naive) as seconds since the epoch.

    ``datetime.fromisoformat`` reads what the hub writes ("...Z" included) about fifty times
    faster than dateutil, which stays the fallback for anything else.
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        from jupyterhub_idle_culler import parse_date

        parsed = parse_date(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def http_client(injected: AsyncHTTPClient | None) -> AsyncHTTPClient:
    """The injected client, else tornado's client of the running event loop (tornado keeps
    one per loop: look it up when used, not when the object using it is built)."""
    return injected or AsyncHTTPClient()


class HubError(Exception):
    """The hub (or a user server) did not answer usefully, after retries."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class HubServer:
    """A ready server as the hub lists it."""

    user: str
    name: str
    started: str
    last_activity: str | None
    url: str
    user_options: dict[str, Any] = field(default_factory=dict)
    groups: frozenset[str] = frozenset()
    admin: bool = False

    @property
    def log_name(self) -> str:
        return f"{self.user}/{self.name}"

    @property
    def profile(self) -> str:
        profile = self.user_options.get("profile", "")
        return profile if isinstance(profile, str) else ""


def servers_of(user: dict[str, Any]) -> list[HubServer]:
    """The ready servers in one user model from GET /users."""
    out = []
    for name, s in (user.get("servers") or {}).items():
        if s.get("pending") or not s.get("ready"):
            continue
        out.append(
            HubServer(
                user=user["name"],
                name=name,
                started=s.get("started") or "",
                last_activity=s.get("last_activity"),
                url=s.get("url") or "",
                user_options=s.get("user_options") or {},
                groups=frozenset(user.get("groups") or ()),
                admin=bool(user.get("admin")),
            )
        )
    return out


class RetryingClient:
    """Authenticated JSON requests with exponential backoff on transient failures."""

    def __init__(
        self,
        token: str,
        *,
        http_client: AsyncHTTPClient | None = None,
        retries: int = 4,
        backoff: float = 1.0,
        request_timeout: float = 60.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.token = token
        self._http = http_client
        self.retries = retries
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.sleep = sleep

    http = property(lambda self: http_client(self._http))

    async def fetch(
        self,
        url: str,
        method: str = "GET",
        body: object = None,
        headers: dict[str, str] | None = None,
        retries: int | None = None,
    ) -> HTTPResponse:
        """Fetch, retrying transient errors; other 4xx raise HubError at once."""
        attempts = (self.retries if retries is None else retries) + 1
        for attempt in range(attempts):
            request = HTTPRequest(
                url,
                method=method,
                headers={"Authorization": f"token {self.token}", **(headers or {})},
                body=None if body is None else json.dumps(body),
                allow_nonstandard_methods=True,
                request_timeout=self.request_timeout,
            )
            try:
                return await self.http.fetch(request)
            except HTTPClientError as e:
                error: Exception = e
                code: int | None = e.code
            except OSError as e:
                error, code = e, None
            if code is not None and code not in RETRY_CODES:
                raise HubError(f"{method} {url} failed: {error}", code) from error
            if attempt + 1 < attempts:
                delay = self.backoff * 2**attempt
                log.warning("%s %s failed (%s); retry in %.1fs", method, url, error, delay)
                await self.sleep(delay)
        raise HubError(f"{method} {url} failed after {attempts} attempts: {error}", code)


class HubClient:
    """The few hub API calls the culler makes."""

    def __init__(self, api_url: str, client: RetryingClient, *, page_size: int = 0) -> None:
        self.api_url = api_url.rstrip("/")
        self.client = client
        self.page_size = page_size

    async def ready_servers(self) -> list[HubServer]:
        """All ready servers, following the hub's pagination."""
        servers: list[HubServer] = []
        async for page in self.ready_server_pages():
            servers.extend(page)
        return servers

    async def ready_server_pages(self) -> AsyncIterator[list[HubServer]]:
        """Ready servers one page of users at a time (the next page is already requested)."""
        params = {"state": "ready"}
        if self.page_size:
            params["limit"] = str(self.page_size)
        accept = {"Accept": "application/jupyterhub-pagination+json"}
        pending: asyncio.Future[HTTPResponse] | None = asyncio.ensure_future(
            self.client.fetch(url_concat(f"{self.api_url}/users", params), headers=accept)
        )
        try:
            while pending is not None:
                model = json.loads((await pending).body)
                pending = None
                items = model["items"] if isinstance(model, dict) else model
                nxt = model.get("_pagination", {}).get("next") if isinstance(model, dict) else None
                if nxt:
                    pending = asyncio.ensure_future(self.client.fetch(nxt["url"], headers=accept))
                yield [s for user in items for s in servers_of(user)]
        finally:
            if pending is not None:
                pending.cancel()

    async def is_running(self, key: Any) -> bool:
        """Whether the server instance ``key`` (user, server, started) still runs."""
        url = f"{self.api_url}/users/{quote(key.user, safe='')}"
        try:
            model = json.loads((await self.client.fetch(url)).body)
        except HubError as e:
            if e.code == 404:
                return False
            raise
        server = (model.get("servers") or {}).get(key.server) or {}
        return server.get("started") == key.started and server.get("pending") != "stop"

    async def stop_server(self, server: HubServer, *, remove: bool = False) -> bool:
        """Ask the hub to stop a server: True when stopped, False when still stopping (202)."""
        user = quote(server.user, safe="")
        if server.name:
            url = f"{self.api_url}/users/{user}/servers/{quote(server.name, safe='')}"
        else:
            url = f"{self.api_url}/users/{user}/server"
        body = {"remove": True} if remove and server.name else None
        try:
            resp = await self.client.fetch(url, method="DELETE", body=body)
        except HubError as e:
            if e.code in (400, 404):
                # already stopped (or stopping) by someone else
                log.info("Server %s already gone: %s", server.log_name, e)
                return True
            raise
        return resp.code != 202


class UserServerClient:
    """Calls to the culling endpoints of user servers, through the proxy."""

    def __init__(self, base_url: str, client: RetryingClient, *, retries: int = 1) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.retries = retries

    def url(self, server: HubServer, path: str) -> str:
        prefix = server.url if server.url.startswith("http") else self.base_url + server.url
        return f"{prefix.rstrip('/')}/{contract.API_PREFIX}/{path}"

    async def activity(self, server: HubServer) -> dict[str, Any]:
        url = self.url(server, contract.ROUTE_ACTIVITY)
        resp = await self.client.fetch(url, retries=self.retries)
        return json.loads(resp.body)  # type: ignore[no-any-return]

    async def put_warning(self, server: HubServer, warning: contract.CullWarning) -> None:
        url = self.url(server, contract.ROUTE_WARNING)
        await self.client.fetch(url, method="PUT", body=warning.to_json(), retries=self.retries)

    async def delete_warning(self, server: HubServer) -> None:
        url = self.url(server, contract.ROUTE_WARNING)
        await self.client.fetch(url, method="DELETE", retries=self.retries)
