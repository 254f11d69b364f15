"""What jupyterhub_imagine.upstream.oauthenticator relies on in the installed oauthenticator.

If one of these fails after an upgrade, the OpenID nonce may no longer be sent or checked:
read docs/upstream.md (oauthenticator) before changing the adapter.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from types import SimpleNamespace
from typing import Any

from oauthenticator.oauth2 import OAuthCallbackHandler, OAuthLoginHandler
from tornado.auth import OAuth2Mixin

from jupyterhub_imagine.upstream.oauthenticator import (
    NonceCallbackHandler,
    NonceLoginHandler,
    nonce_for,
)

SECRET = b"s" * 32


def test_the_public_methods_we_override_keep_their_signatures():
    assert list(inspect.signature(OAuthLoginHandler.set_state_cookie).parameters) == [
        "self",
        "state_cookie_value",
    ]
    assert list(inspect.signature(OAuthCallbackHandler.get_state_cookie).parameters) == ["self"]
    redirect = inspect.signature(OAuth2Mixin.authorize_redirect).parameters
    assert "extra_params" in redirect
    assert OAuthLoginHandler.authorize_redirect is OAuth2Mixin.authorize_redirect


class Recorder(OAuthLoginHandler):
    """Stands below the adapter: records what upstream's ``get`` does, sends nothing."""

    events: list[tuple[str, Any]]

    def set_state_cookie(self, state_cookie_value: str) -> None:
        self.events.append(("cookie", state_cookie_value))

    def authorize_redirect(self, *args: Any, **kwargs: Any) -> None:
        self.events.append(("redirect", kwargs))

    def get_argument(self, name: str, default: Any = None, strip: bool = True) -> Any:  # type: ignore[override]
        return default


class Probe(NonceLoginHandler, Recorder):
    pass


def probe() -> Probe:
    handler = Probe.__new__(Probe)  # no request: upstream's get only calls the methods above
    authenticator = SimpleNamespace(
        get_callback_url=lambda h: "http://hub.example/hub/oauth_callback",
        extra_authorize_params={"prompt": "login"},
        enable_pkce=True,
        client_id="hub",
        scope=["openid"],
    )
    settings = {"cookie_secret": SECRET, "authenticator": authenticator, "log": logging.getLogger()}
    handler.application = SimpleNamespace(settings=settings)  # type: ignore[assignment]
    handler.events = []
    return handler


def test_upstream_get_sets_the_state_cookie_once_before_redirecting():
    handler = probe()
    asyncio.run(handler.run_upstream_get())
    assert [kind for kind, _ in handler.events] == ["cookie", "redirect"]
    cookie = handler.events[0][1]
    params = handler.events[1][1]["extra_params"]
    assert params["nonce"] == nonce_for(cookie, SECRET)
    assert params["prompt"] == "login" and params["code_challenge_method"] == "S256"
    assert params["state"] and params["state"] != cookie  # the URL carries only the state id


def test_each_login_gets_its_own_nonce():
    first, second = probe(), probe()
    asyncio.run(first.run_upstream_get())
    asyncio.run(second.run_upstream_get())
    nonces = {h.events[1][1]["extra_params"]["nonce"] for h in (first, second)}
    assert len(nonces) == 2


def test_the_callback_recomputes_the_nonce_from_the_same_cookie():
    login = probe()
    asyncio.run(login.run_upstream_get())
    cookie = login.events[0][1]

    class Callback(NonceCallbackHandler):
        def get_state_cookie(self) -> str:
            return cookie

    callback = Callback.__new__(Callback)
    callback.application = SimpleNamespace(settings={"cookie_secret": SECRET})  # type: ignore[assignment]
    assert callback.nonce() == login.events[1][1]["extra_params"]["nonce"]
