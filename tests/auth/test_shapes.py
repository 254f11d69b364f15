"""Keycloak- and UmbrellaID-shaped providers, and membership re-evaluated at refresh."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from jupyterhub_imagine.demo.oidc import load_users
from tests.auth.hub import Hub
from tests.support.oidc import OIDCClient, OIDCProvider, scripted_login
from tests.support.wait import wait_until


@pytest.fixture
def start(
    tmp_path: Path, oidc_provider_factory: Callable[..., OIDCProvider]
) -> Iterator[Callable[..., tuple[Hub, OIDCProvider]]]:
    hubs: list[Hub] = []

    def factory(shape: str, settings: dict[str, Any], **op_kwargs: Any) -> tuple[Hub, OIDCProvider]:
        hub = Hub(tmp_path / f"hub{len(hubs)}", {})
        hub.workdir.mkdir()
        hubs.append(hub)
        client = OIDCClient(
            "jupyterhub", "hub-secret", [f"{hub.url}/hub/oauth_callback"], [f"{hub.url}/hub/login"]
        )
        op = oidc_provider_factory(shape=shape, clients=[client], **op_kwargs)
        hub.authenticator = {
            "issuer": op.issuer,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            **settings,
        }
        hub.start()
        return hub, op

    yield factory
    for hub in hubs:
        hub.stop()


def test_keycloak_groups_and_roles_from_the_access_token(start: Callable[..., Any]):
    hub, op = start(
        "keycloak",
        {
            "preset": "keycloak",
            "allowed_rules": ["kc:imagine"],
            "admin_rules": ["kc-client:jupyterhub:admin"],
            "capabilities": {"gpu": ["kc-realm:gpu-user"]},
        },
    )
    assert "/realms/imagine" in op.issuer
    assert scripted_login(requests.Session(), hub.url, "alice", "alice").status_code == 302
    alice = hub.user("alice")
    assert alice["admin"] is True
    assert alice["auth_state"]["imagine"]["capabilities"] == ["gpu"]
    assert sorted(alice["groups"]) == [
        "kc-client:jupyterhub:admin",
        "kc-realm:gpu-user",
        "kc-realm:imagine-user",
        "kc:imagine",
        "kc:imagine/admins",
        "kc:imagine/gpu",
    ]
    # roles are not in userinfo: they came from the (validated) JWT access token
    assert "realm_access" not in alice["auth_state"]["oauth_user"]
    assert scripted_login(requests.Session(), hub.url, "bob", "bob").status_code == 302
    assert hub.user("bob")["admin"] is False
    r = scripted_login(requests.Session(), hub.url, "carol", "carol")
    assert r.status_code == 403 and "imagine" in r.text


def test_umbrellaid_entitlements(start: Callable[..., Any]):
    hub, _ = start(
        "umbrellaid",
        {
            "preset": "umbrellaid",
            "allowed_rules": ["umbrellaid:umbrellaid:imagine"],
            "capabilities": {"gpu": ["umbrellaid:umbrellaid:imagine:gpu"]},
        },
    )
    assert scripted_login(requests.Session(), hub.url, "alice", "alice").status_code == 302
    alice = hub.user("alice@umbrellaid.org")
    assert sorted(alice["groups"]) == [
        "umbrellaid:umbrellaid:imagine",
        "umbrellaid:umbrellaid:imagine:gpu",
    ]
    assert alice["auth_state"]["imagine"]["capabilities"] == ["gpu"]
    r = scripted_login(requests.Session(), hub.url, "carol", "carol")
    assert r.status_code == 403
    assert "umbrellaid.org" in r.text  # the enrolment link of the preset


def test_umbrellaid_needs_an_issuer(tmp_path: Path):
    hub = Hub(tmp_path, {"preset": "umbrellaid", "client_id": "x", "client_secret": "y"})
    hub.start(wait=False)
    assert hub.wait_exit(60) != 0
    assert "ImagineOAuthenticator.issuer is not set" in hub.log


def test_refresh_follows_membership(start: Callable[..., Any]):
    vo = "urn:mace:egi.eu:group:vo.imagine.example:role=member#aai.egi.eu"
    hub, op = start(
        "checkin",
        {
            "allowed_rules": ["egi:vo.imagine.example"],
            "capabilities": {"gpu": ["egi:vo.imagine.example:gpu"]},
            "auth_refresh_age": 1,
        },
        ttl={"access_token": 30},  # inside refresh_ahead (60 s): every refresh renews it
    )
    s = requests.Session()
    assert scripted_login(s, hub.url, "alice", "alice").status_code == 302
    first = hub.user("alice@egi.eu")["auth_state"]
    assert first["imagine"]["capabilities"] == ["gpu"]

    op.update_user("alice", claims={"eduperson_entitlement": [vo]})  # GPU group revoked

    def refreshed() -> bool:  # a request past auth_refresh_age (1 s) refreshes her auth state
        assert s.get(f"{hub.url}/hub/home", allow_redirects=False).status_code == 200
        return hub.user("alice@egi.eu")["auth_state"]["access_token"] != first["access_token"]

    wait_until(refreshed, 30, "alice's auth state to be refreshed")
    after = hub.user("alice@egi.eu")
    assert after["auth_state"]["imagine"]["capabilities"] == []
    assert after["groups"] == ["egi:vo.imagine.example"]
    assert after["auth_state"]["access_token"] != first["access_token"]

    op.update_user("alice", claims={"eduperson_entitlement": []})  # removed from the VO

    def logged_out() -> bool:  # the next refresh finds her outside the VO
        r = s.get(f"{hub.url}/hub/home", allow_redirects=False)
        assert r.status_code in (200, 302), r.status_code
        return r.status_code == 302 and "/login" in r.headers["location"]

    wait_until(logged_out, 30, "alice to be sent back to the login page")


def test_a_keycloak_group_named_like_a_rule_is_refused(start: Callable[..., Any]):
    """`allowed_rules` holds rules; a group whose *name* equals a rule string is no member of
    the rule's group (oauthenticator's plain-name check, when `allowed_groups` held the rules,
    used to let it in)."""
    users = load_users("keycloak")
    carol = next(u for u in users if u["username"] == "carol")
    carol["claims"]["groups"] = ["/imagine:role=member"]  # becomes kc:imagine:role=member
    hub, _ = start(
        "keycloak",
        {"preset": "keycloak", "allowed_rules": ["kc:imagine:role=member"]},
        users=users,
    )
    r = scripted_login(requests.Session(), hub.url, "carol", "carol")
    assert r.status_code == 403, r.status_code
    assert hub.api("/users/carol").status_code == 404  # never created
