"""oauthenticator: the OpenID Connect ``nonce`` on top of its login and callback handlers.

oauthenticator 17 has no hook for a per-login authorize parameter that must also be kept for
the callback (``extra_authorize_params`` is one static dict). We use only public methods, but
rely on how its ``OAuthLoginHandler.get`` calls them, which ``tests/upstream/
test_oauthenticator.py`` checks against the installed version:

- ``get`` calls ``set_state_cookie(value)`` once, with the serialised state (random
  ``state_id``, PKCE verifier), *before* ``authorize_redirect(..., extra_params=...)``;
- the callback handler's ``get_state_cookie()`` returns that same value.

The nonce is an HMAC of that value under the hub's cookie secret: unique per login, bound to the
browser that holds the state cookie, and recomputed at the callback with no extra cookie and no
private helper (``_serialize_state``). See docs/upstream.md (oauthenticator).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
from typing import Any

from oauthenticator.oauth2 import OAuthCallbackHandler, OAuthLoginHandler

NONCE_LABEL = b"jupyterhub-imagine oidc nonce\x00"


def nonce_for(state_cookie: str, secret: bytes | str) -> str:
    """The OpenID nonce bound to one login's state cookie value."""
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    digest = hmac.new(key, NONCE_LABEL + state_cookie.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _secret(handler: Any) -> bytes | str:
    secret = handler.settings.get("cookie_secret")
    if not secret:
        raise RuntimeError("the hub has no cookie_secret: cannot bind the OpenID nonce")
    return secret  # type: ignore[no-any-return]


class NonceLoginHandler(OAuthLoginHandler):
    """oauthenticator's login handler, plus a ``nonce`` in the authorization request."""

    _imagine_nonce: str | None = None

    async def run_upstream_get(self) -> None:
        """oauthenticator's ``get`` (synchronous in 17.x; awaited should it become async)."""
        result = super().get()
        if inspect.isawaitable(result):
            await result

    def set_state_cookie(self, state_cookie_value: str) -> None:
        super().set_state_cookie(state_cookie_value)
        self._imagine_nonce = nonce_for(state_cookie_value, _secret(self))

    def authorize_redirect(self, *args: Any, **kwargs: Any) -> None:
        if not self._imagine_nonce:
            raise RuntimeError("oauthenticator did not set the state cookie before redirecting")
        params = dict(kwargs.get("extra_params") or {})
        kwargs["extra_params"] = {**params, "nonce": self._imagine_nonce}
        super().authorize_redirect(*args, **kwargs)


class NonceCallbackHandler(OAuthCallbackHandler):
    """oauthenticator's callback handler; ``nonce()`` is the one the login sent."""

    def nonce(self) -> str | None:
        cookie = self.get_state_cookie()
        return nonce_for(cookie, _secret(self)) if cookie else None
