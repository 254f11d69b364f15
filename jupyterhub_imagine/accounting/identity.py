"""Who a session belongs to, without saying who: pseudonym, community, country (pure)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

UNKNOWN = "unknown"

# Country-code top-level domains that are not the ISO 3166 code of the same country.
_TLD_TO_ISO = {"uk": "GB"}
# Two-letter TLDs that name no single country.
_NOT_A_COUNTRY = {"eu", "io", "ai", "tv", "me", "co", "cc", "fm", "ws", "su", "ac"}


def pseudonym(key: bytes, username: str) -> str:
    """A keyed hash of the username: stable per key, not reversible without it."""
    return hmac.new(key, b"user:" + username.encode(), hashlib.sha256).hexdigest()[:32]


def server_pseudonym(key: bytes, username: str, server: str) -> str:
    """A keyed hash naming one (user, named server) pair; named servers may carry names too."""
    data = f"server:{username}/{server}".encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:32]


def community(
    groups: Sequence[str], preferred: Iterable[str] = (), depth: int = 2
) -> str:
    """The community a session counts for.

    ``groups`` are namespaced group names in the order the authenticator gave them (the first
    allowed group is the primary one, as EGI's accounting does). A group listed in ``preferred``
    (or a sub-group of one) wins; otherwise the first group, cut to ``depth`` name parts
    (``egi:vo.example.org:gpu`` -> ``egi:vo.example.org``)."""
    groups = [g for g in groups if g]
    for wanted in preferred:
        for g in groups:
            if g == wanted or g.startswith(wanted + ":") or g.startswith(wanted + "/"):
                return wanted
    if not groups:
        return UNKNOWN
    return ":".join(groups[0].split(":")[:depth])


def country_from_domain(domain: str) -> str:
    """ISO 3166 alpha-2 code from a domain's country-code TLD, else ``unknown``."""
    tld = domain.strip().strip(".").rsplit(".", 1)[-1].lower()
    if len(tld) != 2 or not tld.isalpha() or tld in _NOT_A_COUNTRY or "." not in domain:
        return UNKNOWN
    return _TLD_TO_ISO.get(tld, tld.upper())


def _values(claim: Any) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, (list, tuple)):
        return [v for v in claim if isinstance(v, str)]
    return []


def country(
    claims: Mapping[str, Any], country_claim: str, organisation_claims: Sequence[str]
) -> str:
    """The user's country: the configured claim (a two-letter code) if present, else the
    country-code TLD of the home organisation's domain (``member@uni.example.de`` -> ``DE``),
    else ``unknown``."""
    if country_claim:
        for value in _values(claims.get(country_claim)):
            code = value.strip().upper()
            if len(code) == 2 and code.isalpha():
                return code
    for name in organisation_claims:
        for value in _values(claims.get(name)):
            found = country_from_domain(value.rsplit("@", 1)[-1])
            if found != UNKNOWN:
                return found
    return UNKNOWN
