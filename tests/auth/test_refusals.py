"""Each refused login, through a real hub and provider; the hub stays up after every one."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import jwt
import pytest
import requests

from tests.auth.hub import VO, Hub, checkin_hub
from tests.support.oidc import OIDCProvider, login_at_provider, scripted_login


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, OIDCProvider]]:
    with checkin_hub(tmp_path_factory.mktemp("hub"), jwks_refetch_interval=0.0) as running:
        yield running


@pytest.fixture(autouse=True)
def hub_stays_up(env: tuple[Hub, OIDCProvider]) -> Iterator[None]:
    yield
    hub, _ = env
    assert hub.proc is not None and hub.proc.poll() is None
    assert requests.get(f"{hub.url}/hub/api", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("tampered", "bad signature"),
        ("alg-none", "signing algorithm none is not accepted"),
        ("hs256-public-key", "signing algorithm HS256 is not accepted"),
        ("wrong-iss", "wrong issuer"),
        ("wrong-aud", "wrong audience"),
        ("expired", "token expired"),
        ("unknown-kid", "unknown signing key"),
    ],
)
def test_bad_id_token_is_refused(env: tuple[Hub, OIDCProvider], mode: str, reason: str):
    hub, op = env
    op.misbehave_next_id_token(mode)
    r = scripted_login(requests.Session(), hub.url, "bob", "bob")
    assert r.status_code == 403, r.text[:2000]
    assert reason in r.text
    assert hub.api("/users/bob%40egi.eu").status_code == 404


def test_replayed_nonce_is_refused(env: tuple[Hub, OIDCProvider]):
    hub, op = env
    assert scripted_login(requests.Session(), hub.url, "bob", "bob").status_code == 302
    id_token = hub.user("bob@egi.eu")["auth_state"]["id_token"]
    old_nonce = jwt.decode(id_token, options={"verify_signature": False})["nonce"]
    hub.api("/users/bob%40egi.eu", method="DELETE")
    # The next id_token carries the nonce of that earlier login.
    op.misbehave_next_id_token("nonce", nonce=old_nonce)
    r = scripted_login(requests.Session(), hub.url, "bob", "bob")
    assert r.status_code == 403
    assert "nonce mismatch" in r.text


def callback_with(hub: Hub, **params: str) -> requests.Response:
    """Log bob in at the provider, then follow its redirect to the hub with ``params`` changed."""
    s = requests.Session()
    target = login_at_provider(s, hub.url, "bob", "bob")
    assert isinstance(target, str)
    parts = urlparse(target)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return s.get(urlunparse(parts._replace(query=urlencode(query))), allow_redirects=False)


def test_state_mismatch_is_refused(env: tuple[Hub, OIDCProvider]):
    hub, _ = env
    r = callback_with(hub, state="eyJzdGF0ZV9pZCI6ICJmb3JnZWQifQ")  # {"state_id": "forged"}
    assert r.status_code == 400
    assert "OAuth state mismatch" in r.text


def test_wrong_iss_parameter_is_refused(env: tuple[Hub, OIDCProvider]):
    hub, _ = env
    r = callback_with(hub, iss="https://evil.example/")
    assert r.status_code == 400
    assert "evil.example" in r.text


def test_key_rotation_is_followed(env: tuple[Hub, OIDCProvider]):
    hub, op = env
    op.rotate_keys(keep_old=False)
    r = scripted_login(requests.Session(), hub.url, "bob", "bob")
    assert r.status_code == 302, r.text[:2000]
    assert hub.user("bob@egi.eu")["groups"] == [f"egi:{VO}"]
    hub.api("/users/bob%40egi.eu", method="DELETE")


def test_provider_down_at_token_exchange_shows_a_page(env: tuple[Hub, OIDCProvider]):
    hub, op = env
    s = requests.Session()
    target = login_at_provider(s, hub.url, "bob", "bob")
    assert isinstance(target, str)
    op.stop()
    try:
        r = s.get(target, allow_redirects=False)
        assert r.status_code == 503
        assert "cannot be reached right now" in r.text
        assert "Traceback" not in r.text
    finally:
        op.start()  # same port: the issuer is unchanged
