"""The culler service's own HTTP endpoints, served on $JUPYTERHUB_SERVICE_URL.

``{prefix}metrics``: Prometheus text format, for any hub identity allowed to access this service
(a token with ``access:services!service=<name>``). ``{prefix}api/warnings``: the logged-in
user's pending warnings as JSON (HubOAuth cookie or token); ``{prefix}warnings``: the same in a
page the hub home page loads in a hidden frame.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.httpserver import HTTPServer

from .. import contract

WarningsOf = Callable[[str], list[dict[str, Any]]]


class _JSONHandler(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    def initialize(self, hub_auth: HubOAuth, **kwargs: Any) -> None:
        self.hub_auth = hub_auth
        for key, value in kwargs.items():
            setattr(self, key, value)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        exc = kwargs.get("exc_info", (None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        if status_code >= 500:
            message = "Internal error; see the culler's log."
        self.finish(json.dumps({"message": message, "reason": self._reason}))


class MetricsHandler(_JSONHandler):
    """GET the culler's Prometheus metrics."""

    exposition: Callable[[], bytes]
    require_auth: bool = True

    def get(self) -> None:
        if self.require_auth and self.current_user is None:
            # a scraper gets a plain 403, never a redirect to the login page
            raise web.HTTPError(
                403,
                "Scraping the culler's metrics needs a hub token with "
                "access:services!service=<culler service name>.",
            )
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(self.exposition())


class WarningsHandler(_JSONHandler):
    """GET the logged-in user's pending idle-GPU warnings (for the hub home page)."""

    warnings_of: WarningsOf

    @web.authenticated
    def get(self) -> None:
        user = self.current_user
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        warnings = self.warnings_of(user["name"]) if user.get("kind") == "user" else []
        self.finish(json.dumps({"now": time.time(), "warnings": warnings}))


class OAuthCallback(HubOAuthCallbackHandler):  # type: ignore[misc]
    """Completes the users' OAuth login with this service's own HubOAuth (not a global one)."""

    def initialize(self, hub_auth: HubOAuth) -> None:
        self.hub_auth = hub_auth


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Idle-GPU warnings</title></head>
<body><script type="application/json" id="imagine-gpu-warnings-data">{data}</script></body>
</html>
"""


class WarningsPageHandler(WarningsHandler):
    """GET the same warnings as a page the hub home page loads in a hidden frame.

    A frame is a navigation, which cookie authentication accepts without an XSRF token (a
    fetch() from the hub's page would need the service's token, which that page cannot have);
    the parent page, on the same origin, reads the JSON out of the frame.
    """

    @web.authenticated
    def get(self) -> None:
        user = self.current_user
        warnings = self.warnings_of(user["name"]) if user.get("kind") == "user" else []
        data = json.dumps({"now": time.time(), "warnings": warnings})
        # "<" escaped so no value can close the script element
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'self'")
        self.set_header("X-Frame-Options", "SAMEORIGIN")
        self.finish(PAGE.format(data=data.replace("<", "\\u003c")))


def make_app(
    prefix: str,
    hub_auth: HubOAuth,
    *,
    exposition: Callable[[], bytes],
    warnings_of: WarningsOf,
    metrics_require_auth: bool = True,
    home_url: str = "/hub/home",
) -> web.Application:
    """The tornado application; ``prefix`` is $JUPYTERHUB_SERVICE_PREFIX (ends with /).

    The prefix itself (the hub's Services menu links there) sends people to the hub home page,
    where their warnings are shown."""
    prefix = "/" + prefix.strip("/") + "/"
    auth = {"hub_auth": hub_auth}
    return web.Application(
        [
            (prefix, web.RedirectHandler, {"url": home_url, "permanent": False}),
            (prefix.rstrip("/"), web.RedirectHandler, {"url": home_url, "permanent": False}),
            (
                prefix + contract.CULLER_ROUTE_METRICS,
                MetricsHandler,
                {**auth, "exposition": exposition, "require_auth": metrics_require_auth},
            ),
            (
                prefix + "api/" + contract.CULLER_ROUTE_WARNINGS,
                WarningsHandler,
                {**auth, "warnings_of": warnings_of},
            ),
            (
                prefix + contract.CULLER_ROUTE_WARNINGS,
                WarningsPageHandler,
                {**auth, "warnings_of": warnings_of},
            ),
            (prefix + "oauth_callback", OAuthCallback, auth),
        ],
        hub_auth=hub_auth,
        # signs the OAuth token cookie; a new secret at each start only means a new login
        cookie_secret=secrets.token_bytes(32),
        xsrf_cookies=False,  # read-only GET endpoints; no state changes here
    )


def listen(app: web.Application, host: str, port: int) -> HTTPServer:
    server = HTTPServer(app, xheaders=True)
    server.listen(port, host)
    return server
