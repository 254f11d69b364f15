"""OIDC discovery and the provider's signing keys (JWKS), cached. All I/O goes through an
injected ``fetch_json`` coroutine so tests can pass a fake."""

from __future__ import annotations

import json
import time
import urllib.request
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


def fetch_metadata_sync(issuer: str, timeout: float = 10.0) -> dict[str, Any]:
    """Blocking discovery, used once at hub start-up (before the hub serves requests)."""
    try:
        with urllib.request.urlopen(discovery_url(issuer), timeout=timeout) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError) as e:
        raise DiscoveryError(f"cannot fetch {discovery_url(issuer)}: {e}") from e
    return check_metadata(issuer, data)


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

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self._metadata = metadata
        self._metadata_at = self._clock()

    @property
    def cached_metadata(self) -> dict[str, Any] | None:
        return self._metadata

    async def metadata(self) -> dict[str, Any]:
        stale = self._clock() - self._metadata_at > self.metadata_ttl
        if self._metadata is None or stale:
            try:
                data = await self._fetch(discovery_url(self.issuer))
            except Exception as e:
                if self._metadata is not None:
                    return self._metadata  # keep serving the last good copy
                raise DiscoveryError(f"cannot fetch {discovery_url(self.issuer)}: {e}") from e
            self.set_metadata(check_metadata(self.issuer, data))
        assert self._metadata is not None
        return self._metadata

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
                await self._refresh_keys()
        if kid in self._keys:
            return self._keys[kid]
        if not kid and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return None
