"""Validate id_tokens and JWT access tokens. Pure: keys are passed in, nothing is fetched."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

# Only asymmetric algorithms: "none" and HMAC (where a public key could be used as the secret)
# are never accepted.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class TokenRejected(Exception):
    """A token failed validation; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Expected:
    issuer: str
    client_id: str
    algorithms: Collection[str] = ASYMMETRIC_ALGORITHMS
    leeway: float = 30.0
    nonce: str | None = None


def header_of(token: str, algorithms: Collection[str]) -> dict[str, Any]:
    """The JOSE header, refused unless its algorithm is allowed and asymmetric."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise TokenRejected(f"malformed token: {e}") from None
    alg = header.get("alg")
    if alg not in ASYMMETRIC_ALGORITHMS or alg not in algorithms:
        raise TokenRejected(f"signing algorithm {alg} is not accepted")
    return dict(header)


def _decode(
    token: str, jwk: Mapping[str, Any], header: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    alg = header["alg"]
    if jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        raise TokenRejected(f"key {header.get('kid')} is not a signing key for {alg}")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg)
    except jwt.PyJWTError as e:
        raise TokenRejected(f"key {header.get('kid')} does not fit {alg}: {e}") from None
    try:
        claims: dict[str, Any] = jwt.decode(token, key=key.key, algorithms=[alg], **kwargs)
    except jwt.ExpiredSignatureError:
        raise TokenRejected("token expired") from None
    except jwt.InvalidSignatureError:
        raise TokenRejected("bad signature") from None
    except jwt.InvalidIssuerError:
        raise TokenRejected("wrong issuer") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected("wrong audience") from None
    except jwt.ImmatureSignatureError:
        raise TokenRejected("token issued in the future") from None
    except jwt.PyJWTError as e:
        raise TokenRejected(f"invalid token: {e}") from None
    return claims


def verify_id_token(token: str, jwk: Mapping[str, Any], expected: Expected) -> dict[str, Any]:
    """Signature, iss, aud/azp, exp/iat (with leeway), nonce (OIDC Core 3.1.3.7)."""
    header = header_of(token, expected.algorithms)
    claims = _decode(
        token,
        jwk,
        header,
        audience=expected.client_id,
        issuer=expected.issuer,
        leeway=expected.leeway,
        options={"require": ["iss", "sub", "aud", "exp", "iat"]},
    )
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else list(aud)
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != expected.client_id:
        raise TokenRejected("wrong authorized party (azp)")
    if expected.nonce is not None and claims.get("nonce") != expected.nonce:
        raise TokenRejected("nonce mismatch")
    return claims


def verify_access_token(token: str, jwk: Mapping[str, Any], expected: Expected) -> dict[str, Any]:
    """A JWT access token (Keycloak): signature, iss, exp; azp must be us when present."""
    header = header_of(token, expected.algorithms)
    claims = _decode(
        token,
        jwk,
        header,
        issuer=expected.issuer,
        leeway=expected.leeway,
        options={"verify_aud": False, "require": ["iss", "sub", "exp"]},
    )
    if claims.get("azp") not in (None, expected.client_id):
        raise TokenRejected("access token issued to another client")
    return claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
