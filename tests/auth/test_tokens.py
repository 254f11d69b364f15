"""id_token validation (pure) and the JWKS cache (with a fake fetch)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jupyterhub_imagine.auth.discovery import IssuerMismatch, ProviderInfo, check_metadata
from jupyterhub_imagine.auth.tokens import Expected, TokenRejected, verify_id_token

ISS = "https://op.example/auth/realms/egi"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWK: dict[str, Any] = {
    **jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True),
    "kid": "k1",
    "alg": "RS256",
    "use": "sig",
}


def token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "sub": "alice", "aud": "hub", "iat": now, "exp": now + 60, "nonce": "n"}
    claims.update(overrides)
    return jwt.encode(
        {k: v for k, v in claims.items() if v is not None}, KEY, "RS256", {"kid": "k1"}
    )


def test_valid_token():
    assert verify_id_token(token(), JWK, Expected(ISS, "hub", nonce="n"))["sub"] == "alice"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"aud": "other"}, "wrong audience"),
        ({"aud": ["hub", "other"]}, "azp"),
        ({"azp": "other"}, "azp"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"nonce": "other"}, "nonce mismatch"),
        ({"sub": None}, "sub"),
    ],
)
def test_refusals(overrides: dict[str, Any], reason: str):
    with pytest.raises(TokenRejected, match=reason):
        verify_id_token(token(**overrides), JWK, Expected(ISS, "hub", leeway=0, nonce="n"))


def test_leeway_accepts_small_skew():
    t = token(exp=int(time.time()) - 5)
    assert verify_id_token(t, JWK, Expected(ISS, "hub", leeway=30))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hmac_with_the_public_key_is_refused():
    # Key confusion: HS256 "signed" with the provider's public key as the secret, by hand
    # (pyjwt refuses to produce it).
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": "k1"}
    payload = jwt.decode(token(), options={"verify_signature": False})
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(TokenRejected, match="HS256 is not accepted"):
        verify_id_token(f"{signing_input}.{b64(sig)}", JWK, Expected(ISS, "hub"))


def test_alg_none_is_refused():
    t = jwt.encode({"iss": ISS, "sub": "a", "aud": "hub"}, None, "none")
    with pytest.raises(TokenRejected, match="none is not accepted"):
        verify_id_token(t, JWK, Expected(ISS, "hub"))


def test_issuer_mismatch_names_the_setting():
    with pytest.raises(IssuerMismatch, match=r"ImagineOAuthenticator\.issuer"):
        check_metadata(ISS, {"issuer": ISS + "/", "authorization_endpoint": "a"})


@pytest.mark.fake
@pytest.mark.asyncio
async def test_unknown_kid_refetch_is_rate_limited():
    """With a FAKE fetch and an injected clock (the real provider: test_discovery.py)."""
    calls: list[str] = []
    now = [0.0]
    metadata = {
        "issuer": ISS,
        "authorization_endpoint": "a",
        "token_endpoint": "t",
        "jwks_uri": "https://op.example/certs",
    }

    async def fetch(url: str) -> Any:  # FAKE provider
        calls.append(url)
        return metadata if url.endswith("openid-configuration") else {"keys": [JWK]}

    info = ProviderInfo(ISS, fetch, jwks_min_interval=30, clock=lambda: now[0])
    assert (await info.signing_key("k1")) == JWK
    assert await info.signing_key("forged") is None
    assert await info.signing_key("forged") is None
    assert calls.count("https://op.example/certs") == 1  # within the interval: no refetch
    now[0] += 31
    assert await info.signing_key("forged") is None
    assert calls.count("https://op.example/certs") == 2
