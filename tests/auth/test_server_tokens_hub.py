"""Tokens for user servers, end to end: the demo stack (development OpenID provider, a real
JupyterHub with the local spawner, real user servers). Only NVML is a FAKE (no GPU here)."""

from __future__ import annotations

import html
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from jupyterhub_imagine.demo.stack import DemoStack
from tests.support.hub import demo_hub
from tests.support.oidc import scripted_login
from tests.support.wait import wait_until

pytestmark = pytest.mark.fake

TTL = 15  # access token lifetime, seconds
TOKEN = secrets.token_hex(16)
EXTRA = f"""
c.ImagineOAuthenticator.refresh_ahead = 5
c.ImagineOAuthenticator.token_refresh_interval = 1
c.JupyterHub.services.append({{"name": "tests", "api_token": {TOKEN!r}}})
c.JupyterHub.load_roles.append({{
    "name": "tests", "services": ["tests"],
    "scopes": ["admin:users", "admin:servers", "list:users", "shares", "access:servers"],
}})
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with demo_hub(tmp_path_factory.mktemp("server-tokens"), EXTRA) as s:
        assert s.provider is not None
        # The stack returns once the proxy answers; the hub's routes may come a moment later.
        wait_until(lambda: api(s, "GET", "/").status_code == 200, 60, "the hub")
        s.provider.set_ttl(access_token=TTL)
        yield s


def api(stack: DemoStack, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"token {TOKEN}"}
    return requests.request(method, f"{stack.url}/hub/api{path}", headers=headers, timeout=60, **kw)


def userinfo(stack: DemoStack, token: str) -> requests.Response:
    assert stack.provider is not None
    issuer = stack.provider.issuer
    endpoint = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()[
        "userinfo_endpoint"
    ]
    return requests.get(endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def server_environ(stack: DemoStack, username: str) -> dict[str, str]:
    """The environment of the user's jupyterhub-singleuser process of this stack's hub (other
    hubs may run servers for an alice on the same machine), read from /proc."""
    hub_api = f":{stack.settings.hub_port}/hub/api"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if b"jupyterhub-singleuser" not in cmdline:
            continue
        env = dict(e.split("=", 1) for e in raw.decode(errors="replace").split("\0") if "=" in e)
        if env.get("JUPYTERHUB_USER") == username and hub_api in env.get("JUPYTERHUB_API_URL", ""):
            env["_PID"] = pid
            return env
    raise AssertionError(f"no server process for {username}")


def start_server(stack: DemoStack, username: str) -> None:
    r = api(stack, "POST", f"/users/{username}/server", json={"profile": "cpu"})
    assert r.status_code in (201, 202), r.text

    def ready() -> bool:
        return bool(
            api(stack, "GET", f"/users/{username}").json()["servers"].get("", {}).get("ready")
        )

    wait_until(ready, 120, f"{username}'s server")


@pytest.fixture(scope="module")
def alice(stack: DemoStack) -> Iterator[requests.Session]:
    session = requests.Session()
    assert scripted_login(session, stack.url, "alice", "alice").status_code == 302
    start_server(stack, "alice")
    yield session
    api(stack, "DELETE", "/users/alice/server")


def test_server_gets_a_private_token_file_the_provider_accepts(
    stack: DemoStack, alice: requests.Session
) -> None:
    env = server_environ(stack, "alice")
    path = Path(env["IMAGINE_ACCESS_TOKEN_FILE"])
    assert path.is_file()
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == Path(f"/proc/{env['_PID']}").stat().st_uid  # the server's user
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    r = userinfo(stack, path.read_text())
    assert r.status_code == 200, r.text
    assert r.json()["preferred_username"] == "alice"
    id_token = Path(env["IMAGINE_ID_TOKEN_FILE"])
    assert id_token.parent == path.parent and id_token.read_text().count(".") == 2
    # The token is not in the server's environment, only where to find it.
    assert path.read_text() not in "\0".join(env.values())
    home = Path(env["HOME"]).resolve()
    assert home not in path.resolve().parents


def test_the_hub_refreshes_the_file_before_expiry_without_the_user(
    stack: DemoStack, alice: requests.Session
) -> None:
    path = Path(server_environ(stack, "alice")["IMAGINE_ACCESS_TOKEN_FILE"])
    first = path.read_text()
    assert userinfo(stack, first).status_code == 200
    # nobody uses the hub until the first token has expired at the provider
    wait_until(lambda: userinfo(stack, first).status_code == 401, TTL + 10, "the token to expire")
    current = path.read_text()
    assert current != first
    r = userinfo(stack, current)
    assert r.status_code == 200, r.text
    hub_log = (stack.settings.state_dir.parent / "hub.log").read_text()
    assert "alice: tokens of running servers refreshed by the hub" in hub_log


def contents_attempts(token_file: Path, home: Path) -> list[str]:
    """Paths a guest might try through the contents API to reach the token file."""
    relative = os.path.relpath(token_file, home)
    return [
        quote(relative, safe=""),
        quote(relative),
        quote(str(token_file), safe=""),
        quote(str(token_file)),
        quote(f"../{token_file.parent.parent.name}", safe=""),
    ]


def open_server(session: requests.Session, url: str) -> None:
    """Open a server as a browser does: its OAuth with the hub, accepting the hub's
    authorization page that guests of a shared server get."""
    page = session.get(url, timeout=60)
    if "/oauth2/authorize" in page.url:
        fields = re.findall(
            r'<input type="hidden" name="(_xsrf|scopes)" value="([^"]*)"', page.text
        )
        assert fields, page.text[:500]
        form = [(k, html.unescape(v)) for k, v in fields]
        page = session.post(page.url, data=form, timeout=60)
    assert page.status_code == 200 and "/lab" in page.url, (page.status_code, page.url)


def try_to_read(session: requests.Session, stack: DemoStack, token_file: Path, home: Path) -> None:
    """Every contents-API path to the token file fails, and the token never shows."""
    token = token_file.read_text()
    open_server(session, f"{stack.url}/user/alice/lab")
    session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", path="/user/alice/") or ""
    base = f"{stack.url}/user/alice/api/contents"
    root = session.get(f"{base}/", timeout=60)
    assert root.status_code == 200, (root.status_code, root.text[:300])  # the API works
    names = [item["name"] for item in root.json()["content"]]
    assert token_file.parent.parent.name not in names
    for attempt in contents_attempts(token_file, home):
        r = session.get(f"{base}/{attempt}?content=1", timeout=60)
        assert 400 <= r.status_code < 500, (attempt, r.status_code)
        assert token not in r.text
        r = session.get(f"{stack.url}/user/alice/files/{attempt}", timeout=60)
        assert token not in r.text


def test_the_token_is_not_readable_through_the_contents_api(
    stack: DemoStack, alice: requests.Session
) -> None:
    env = server_environ(stack, "alice")
    token_file = Path(env["IMAGINE_ACCESS_TOKEN_FILE"])
    try_to_read(alice, stack, token_file, Path(env["HOME"]))


def test_a_shared_server_loses_its_token_until_the_share_ends(
    stack: DemoStack, alice: requests.Session
) -> None:
    env = server_environ(stack, "alice")
    token_file = Path(env["IMAGINE_ACCESS_TOKEN_FILE"])
    token = token_file.read_text()
    # bob, a member of the VO, gets alice's server shared with him (JupyterHub sharing), which
    # lets him run code there: the hub takes the token away.
    bob = requests.Session()
    assert scripted_login(bob, stack.url, "bob", "bob").status_code == 302
    r = api(stack, "POST", "/shares/alice/", json={"user": "bob"})
    assert r.status_code == 200, r.text
    wait_until(lambda: not token_file.exists(), 10, "the token to be withdrawn")
    open_server(bob, f"{stack.url}/user/alice/lab")
    bob.headers["X-XSRFToken"] = bob.cookies.get("_xsrf", path="/user/alice/") or ""
    listing = bob.get(f"{stack.url}/user/alice/api/contents/", timeout=60)
    assert listing.status_code == 200  # the guest does use the server
    for attempt in contents_attempts(token_file, Path(env["HOME"])):
        r = bob.get(f"{stack.url}/user/alice/api/contents/{attempt}?content=1", timeout=60)
        assert 400 <= r.status_code < 500 and token not in r.text
    # Past the time the refresher would have renewed it (its expiry, refresh_ahead = 5 s later
    # than due), the token stayed withdrawn and was not refreshed for the shared server.
    wait_until(lambda: userinfo(stack, token).status_code == 401, TTL + 10, "the token to expire")
    assert not token_file.exists()
    hub_log = (stack.settings.state_dir.parent / "hub.log").read_text()
    since_shared = hub_log.rsplit("alice: a server is shared, its tokens are withdrawn", 1)
    assert len(since_shared) == 2, "the hub never logged the withdrawal"
    assert "alice: tokens of running servers refreshed by the hub" not in since_shared[1]
    r = api(stack, "DELETE", "/shares/alice/")
    assert r.status_code in (200, 204), r.text

    def valid_token_back() -> bool:  # given back, and renewed (the one it had has expired)
        try:
            return userinfo(stack, token_file.read_text()).status_code == 200
        except FileNotFoundError:
            return False

    wait_until(valid_token_back, 10, "a valid token to come back")


def test_after_stop_the_file_is_gone(stack: DemoStack, alice: requests.Session) -> None:
    path = Path(server_environ(stack, "alice")["IMAGINE_ACCESS_TOKEN_FILE"])
    assert path.exists()
    r = api(stack, "DELETE", "/users/alice/server")
    assert r.status_code in (202, 204), r.text
    wait_until(lambda: not path.parent.exists(), 60, "the token directory to go")
    assert not path.exists()
