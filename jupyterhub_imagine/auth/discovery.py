"""OIDC discovery and the provider's signing keys (JWKS), cached.

Every download goes through the ``fetch_json`` coroutine the caller passes in (the
authenticator passes one built on tornado's AsyncHTTPClient), so nothing here blocks the event
loop; there is no synchronous fetch. Concurrent callers share one download: while discovery or
a JWKS refetch is in flight, other callers await that same download (single flight).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

FetchJSON = Callable[[str], Awaitable[Any]]


class DiscoveryError(Exception):
    """The provider's metadata could not be fetched or is unusable."""


class IssuerMismatch(DiscoveryError):
    """The discovered issuer differs from the configured one."""


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def check_metadata(issuer: str, metadata: Any) -> dict[str, Any]:
    """Refuse metadata whose issuer is not exactly ours (OIDC Discovery 4.3)."""
    if not isinstance(metadata, Mapping):
        raise DiscoveryError(f"{discovery_url(issuer)} did not return a JSON object")
    found = metadata.get("issuer")
    if found != issuer:
        raise IssuerMismatch(
            f"ImagineOAuthenticator.issuer is {issuer!r} but the provider at "
            f"{discovery_url(issuer)} says its issuer is {found!r}; set "
            "ImagineOAuthenticator.issuer to the provider's exact issuer"
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not metadata.get(key):
            raise DiscoveryError(f"the provider's metadata has no {key}")
    return dict(metadata)


class ProviderInfo:
    """Discovery document and JWKS of one issuer, fetched on demand and cached."""

    def __init__(
        self,
        issuer: str,
        fetch_json: FetchJSON,
        metadata_ttl: float = 3600.0,
        jwks_min_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._fetch = fetch_json
        self.metadata_ttl = metadata_ttl
        self.jwks_min_interval = jwks_min_interval
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: dict[str, dict[str, Any]] = {}
        self._jwks_at: float | None = None
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    async def _single_flight(self, key: str, start: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``start()`` once for all concurrent callers with the same ``key``."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(start())
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._done(key, t))
        return await asyncio.shield(task)

    def _done(self, key: str, task: asyncio.Future[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: callers that went away must not leave a warning

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self._metadata = metadata
        self._metadata_at = self._clock()

    @property
    def cached_metadata(self) -> dict[str, Any] | None:
        return self._metadata

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, downloaded when missing or older than ``metadata_ttl``."""
        stale = self._clock() - self._metadata_at > self.metadata_ttl
        if self._metadata is None or stale:
            await self._single_flight("metadata", self._refresh_metadata)
        assert self._metadata is not None
        return self._metadata

    async def _refresh_metadata(self) -> None:
        try:
            data = await self._fetch(discovery_url(self.issuer))
        except Exception as e:
            if self._metadata is not None:
                return  # keep serving the last good copy
            raise DiscoveryError(f"cannot fetch {discovery_url(self.issuer)}: {e}") from e
        self.set_metadata(check_metadata(self.issuer, data))

    async def _refresh_keys(self) -> None:
        jwks_uri = (await self.metadata())["jwks_uri"]
        try:
            data = await self._fetch(jwks_uri)
        except Exception as e:
            raise DiscoveryError(f"cannot fetch the provider's keys from {jwks_uri}: {e}") from e
        self._jwks_at = self._clock()
        keys = data.get("keys", []) if isinstance(data, Mapping) else []
        self._keys = {str(k.get("kid", "")): dict(k) for k in keys if isinstance(k, Mapping)}

    async def signing_key(self, kid: str | None) -> dict[str, Any] | None:
        """The JWK for ``kid``; an unknown kid triggers one refetch, at most every
        ``jwks_min_interval`` seconds (so forged kids cannot hammer the provider)."""
        kid = kid or ""
        if kid not in self._keys:
            due = self._jwks_at is None or self._clock() - self._jwks_at >= self.jwks_min_interval
            if due:
                await self._single_flight("jwks", self._refresh_keys)
        if kid in self._keys:
            return self._keys[kid]
        if not kid and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return None
