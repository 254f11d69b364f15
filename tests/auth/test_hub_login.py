"""Log in through a real JupyterHub and the development OpenID provider (Check-in shape)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.auth.hub import Hub, free_port
from tests.support.oidc import OIDCClient, OIDCProvider, scripted_login

VO = "vo.imagine.example"
POLICY = {
    "allowed_rules": [f"egi:{VO}"],
    "admin_rules": [f"urn:mace:egi.eu:group:{VO}:role=manager#aai.egi.eu"],
    "capabilities": {"gpu": [f"egi:{VO}:gpu"]},
    "enrollment_url": "https://enrol.example.org/vo.imagine.example",
}


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[Callable[..., Hub]]:
    hubs: list[Hub] = []

    def factory(authenticator: dict[str, Any], **kwargs: Any) -> Hub:
        workdir = tmp_path / f"hub{len(hubs)}"
        workdir.mkdir()
        hub = Hub(workdir, authenticator, **kwargs)
        hubs.append(hub)
        return hub

    yield factory
    for hub in hubs:
        hub.stop()


@pytest.fixture
def checkin_hub(
    hub_factory: Callable[..., Hub], oidc_provider_factory: Callable[..., OIDCProvider]
) -> tuple[Hub, OIDCProvider]:
    hub = hub_factory({})
    client = OIDCClient(
        "jupyterhub",
        "hub-secret",
        [f"{hub.url}/hub/oauth_callback"],
        [f"{hub.url}/hub/login"],
    )
    op = oidc_provider_factory(shape="checkin", clients=[client])
    hub.authenticator = {
        "preset": "egi-checkin",
        "issuer": op.issuer,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        **POLICY,
    }
    hub.start()
    return hub, op


def test_alice_logs_in_with_groups_admin_and_capabilities(checkin_hub: tuple[Hub, OIDCProvider]):
    hub, _ = checkin_hub
    r = scripted_login(requests.Session(), hub.url, "alice", "alice")
    assert r.status_code == 302, r.text
    user = hub.user("alice@egi.eu")
    assert user["admin"] is True
    assert sorted(user["groups"]) == [f"egi:{VO}", f"egi:{VO}:gpu"]
    state = user["auth_state"]
    assert state["imagine"] == {
        "groups": [f"egi:{VO}", f"egi:{VO}:gpu"],
        "capabilities": ["gpu"],
        "entitlements": [
            f"urn:mace:egi.eu:group:{VO}:role=member#aai.egi.eu",
            f"urn:mace:egi.eu:group:{VO}:gpu:role=member#aai.egi.eu",
            f"urn:mace:egi.eu:group:{VO}:role=manager#aai.egi.eu",
        ],
    }
    assert state["access_token"] and state["refresh_token"] and state["id_token"]
    assert state["oauth_user"]["voperson_id"] == "alice@egi.eu"
    assert state["token_response"]["token_type"] == "Bearer"


def test_bob_is_a_plain_member(checkin_hub: tuple[Hub, OIDCProvider]):
    hub, _ = checkin_hub
    r = scripted_login(requests.Session(), hub.url, "bob", "bob")
    assert r.status_code == 302, r.text
    user = hub.user("bob@egi.eu")
    assert user["admin"] is False
    assert user["groups"] == [f"egi:{VO}"]
    assert user["auth_state"]["imagine"]["capabilities"] == []


def test_carol_outside_the_community_gets_a_403_page(checkin_hub: tuple[Hub, OIDCProvider]):
    hub, _ = checkin_hub
    r = scripted_login(requests.Session(), hub.url, "carol", "carol")
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"]
    assert VO in r.text
    assert 'href="https://enrol.example.org/vo.imagine.example"' in r.text
    assert "Traceback" not in r.text
    assert hub.api("/users/carol%40egi.eu").status_code == 404
    assert hub.proc is not None and hub.proc.poll() is None


def test_wrong_password_stays_on_the_provider_form(checkin_hub: tuple[Hub, OIDCProvider]):
    hub, _ = checkin_hub
    r = scripted_login(requests.Session(), hub.url, "alice", "not-her-password")
    assert r.status_code == 200
    assert "Invalid username or password" in r.text


def test_missing_client_secret_stops_the_hub(hub_factory: Callable[..., Hub]):
    hub = hub_factory({"issuer": "http://127.0.0.1:9/auth/realms/egi", "client_id": "x"})
    hub.start(wait=False)
    assert hub.wait_exit(60) != 0
    assert "ImagineOAuthenticator.client_secret is not set" in hub.log
    assert "Traceback" not in hub.log


def test_missing_crypt_key_stops_the_hub(hub_factory: Callable[..., Hub]):
    settings = {"issuer": "http://127.0.0.1:9/r", "client_id": "x", "client_secret": "y"}
    hub = hub_factory(settings, crypt_key=False)
    hub.start(wait=False)
    assert hub.wait_exit(60) != 0
    assert "JUPYTERHUB_CRYPT_KEY is not set" in hub.log


def test_issuer_mismatch_stops_the_hub(
    hub_factory: Callable[..., Hub], oidc_provider_factory: Callable[..., OIDCProvider]
):
    op = oidc_provider_factory(shape="checkin", clients=[])
    settings = {"issuer": op.issuer + "/", "client_id": "x", "client_secret": "y"}
    hub = hub_factory(settings)
    hub.start(wait=False)
    assert hub.wait_exit(60) != 0
    assert "ImagineOAuthenticator.issuer" in hub.log
    assert "says its issuer is" in hub.log


def test_provider_down_at_login_shows_a_page(hub_factory: Callable[..., Hub]):
    port = free_port()  # nothing listens there
    settings = {"issuer": f"http://127.0.0.1:{port}/auth/realms/egi"}
    hub = hub_factory({**settings, "client_id": "x", "client_secret": "y"})
    hub.start()
    assert "will retry at the first login" in hub.log
    r = requests.get(f"{hub.url}/hub/oauth_login", allow_redirects=False)
    assert r.status_code == 503
    assert "cannot be reached right now" in r.text
    assert "Traceback" not in r.text


def test_logout_ends_the_provider_session(checkin_hub: tuple[Hub, OIDCProvider]):
    hub, op = checkin_hub
    s = requests.Session()
    assert scripted_login(s, hub.url, "alice", "alice").status_code == 302
    r = s.get(f"{hub.url}/hub/logout", allow_redirects=False)
    assert r.status_code == 302
    end_session = r.headers["location"]
    assert end_session.startswith(op.issuer) and "id_token_hint=" in end_session
    page = s.get(end_session)
    action = re.search(r'<form id="op.logoutForm" method="post" action="([^"]+)"', page.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
    assert action and xsrf, page.text
    done = s.post(action[1], data={"xsrf": xsrf[1], "logout": "yes"}, allow_redirects=False)
    assert done.headers["location"] == f"{hub.url}/hub/login"
    # The provider session is gone: the next login asks for the password again.
    again = s.get(f"{hub.url}/hub/oauth_login")
    assert 'name="password"' in again.text


@pytest.mark.parametrize(
    "spawner_config,needle",
    [
        (
            'c.ImagineLocalSpawner.default_profile = "gpu-h100"',
            "ImagineLocalSpawner.default_profile 'gpu-h100' is not a profile",
        ),
        (
            'c.ImagineLocalSpawner.profile_list = [{"display_name": "A", "gpu": {"count": "2"}}]',
            "ImagineLocalSpawner.profile_list[0] (a): gpu.count must be a non-negative integer",
        ),
    ],
)
def test_bad_profile_config_stops_the_hub(
    hub_factory: Callable[..., Hub], spawner_config: str, needle: str
):
    settings = {"issuer": "http://127.0.0.1:9/r", "client_id": "x", "client_secret": "y"}
    hub = hub_factory(settings)
    hub.extra_config = f"c.JupyterHub.spawner_class = 'imagine-local'\n{spawner_config}\n"
    hub.start(wait=False)
    assert hub.wait_exit(60) != 0
    assert needle in hub.log
    assert "Traceback" not in hub.log


def hub_with(
    hub_factory: Callable[..., Hub],
    oidc_provider_factory: Callable[..., OIDCProvider],
    settings: dict[str, Any],
    after_logout: str,
) -> tuple[Hub, OIDCProvider]:
    hub = hub_factory({})
    callback = f"{hub.url}/hub/oauth_callback"
    client = OIDCClient(
        "jupyterhub", "hub-secret", [callback], [after_logout or f"{hub.url}/hub/login"]
    )
    op = oidc_provider_factory(shape="checkin", clients=[client])
    hub.authenticator = {
        "issuer": op.issuer,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        **POLICY,
        **settings,
    }
    return hub.start(), op


def test_post_logout_redirect_is_configurable(
    hub_factory: Callable[..., Hub], oidc_provider_factory: Callable[..., OIDCProvider]
):
    after = "https://portal.example.org/goodbye"
    settings = {"post_logout_redirect_url": after}
    hub, _ = hub_with(hub_factory, oidc_provider_factory, settings, after)
    s = requests.Session()
    assert scripted_login(s, hub.url, "alice", "alice").status_code == 302
    r = s.get(f"{hub.url}/hub/logout", allow_redirects=False)
    query = parse_qs(urlparse(r.headers["location"]).query)
    assert query["post_logout_redirect_uri"] == [after]
    page = s.get(r.headers["location"])
    action = re.search(r'<form id="op.logoutForm" method="post" action="([^"]+)"', page.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
    assert action and xsrf, page.text
    done = s.post(action[1], data={"xsrf": xsrf[1], "logout": "yes"}, allow_redirects=False)
    assert done.headers["location"] == after  # the provider accepted it and sends users there


def test_rp_logout_can_be_turned_off(
    hub_factory: Callable[..., Hub], oidc_provider_factory: Callable[..., OIDCProvider]
):
    hub, op = hub_with(hub_factory, oidc_provider_factory, {"rp_logout": False}, "")
    s = requests.Session()
    assert scripted_login(s, hub.url, "alice", "alice").status_code == 302
    r = s.get(f"{hub.url}/hub/logout", allow_redirects=False)
    assert not r.headers.get("location", "").startswith(op.issuer)
    assert s.get(f"{hub.url}/hub/home", allow_redirects=False).status_code == 302


OLD_SETTINGS = [
    (
        {"allowed_groups": [f"egi:{VO}"]},
        f"ImagineOAuthenticator.allowed_groups: 'egi:{VO}' is a 'egi:' group name",
        f"move it to ImagineOAuthenticator.allowed_rules as 'egi:{VO}'",
    ),
    (
        {"admin_groups": [f"urn:mace:egi.eu:group:{VO}:role=manager#aai.egi.eu"]},
        "ImagineOAuthenticator.admin_groups: 'urn:mace:egi.eu:group:",
        "move it to ImagineOAuthenticator.admin_rules",
    ),
    (
        {"capabilities": {"gpu": ["kc-role:gpu-user"]}},
        "ImagineOAuthenticator.capabilities['gpu']: 'kc-role:gpu-user' uses the retired",
        "write 'kc-realm:gpu-user'",
    ),
]


@pytest.mark.parametrize(
    ("old", "names", "advice"), OLD_SETTINGS, ids=["allowed_groups", "admin_groups", "kc-role"]
)
def test_an_old_rule_setting_stops_the_hub_saying_what_to_write(
    hub_factory: Callable[..., Hub], old: dict[str, Any], names: str, advice: str
):
    settings = {"issuer": "http://127.0.0.1:9/auth/realms/egi", "client_id": "x"}
    hub = hub_factory({**settings, "client_secret": "y", **old})
    hub.start(wait=False)
    assert hub.wait_exit(60) != 0
    assert names in hub.log and advice in hub.log
    assert "docs/migration.md" in hub.log
    assert "Traceback" not in hub.log


def test_allowed_and_admin_groups_keep_oauthenticators_exact_names(
    hub_factory: Callable[..., Hub], oidc_provider_factory: Callable[..., OIDCProvider]
):
    """Plain names in upstream's settings match the hub group of that exact name (here from an
    entitlement in a namespace the authenticator does not know in advance), not sub-groups."""
    hub = hub_factory({})
    client = OIDCClient("jupyterhub", "hub-secret", [f"{hub.url}/hub/oauth_callback"])
    op = oidc_provider_factory(shape="checkin", clients=[client])
    hub.authenticator = {
        "issuer": op.issuer,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        **POLICY,
        "allowed_groups": ["example.org:staff"],
        "admin_groups": ["example.org:staff"],
    }
    # oauthenticator's documented hook runs too (async allowed)
    hub.extra_config = (
        "async def hook(authenticator, auth_state):\n"
        "    return {**auth_state, 'hooked': authenticator.client_id}\n"
        "c.ImagineOAuthenticator.modify_auth_state_hook = hook\n"
    )
    hub.start()
    sub_group = ["urn:geant:example.org:group:staff:sub#example.org"]
    op.update_user("carol", claims={"eduperson_entitlement": sub_group})
    assert scripted_login(requests.Session(), hub.url, "carol", "carol").status_code == 403
    staff = ["urn:geant:example.org:group:staff#example.org"]
    op.update_user("carol", claims={"eduperson_entitlement": staff})
    assert scripted_login(requests.Session(), hub.url, "carol", "carol").status_code == 302
    carol = hub.user("carol@egi.eu")
    assert carol["groups"] == ["example.org:staff"] and carol["admin"] is True
    assert carol["auth_state"]["hooked"] == "jupyterhub"
