"""The development OpenID provider for tests: fixtures and a scripted (browser-less) login."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urljoin, urlparse

import pytest
import requests

from jupyterhub_imagine.demo.oidc import (
    OIDCClient,
    OIDCProvider,
    OIDCProviderError,
    load_users,
)

__all__ = [
    "OIDCClient",
    "OIDCProvider",
    "OIDCProviderError",
    "load_users",
    "login_at_provider",
    "oidc_provider_factory",
    "scripted_login",
]


@pytest.fixture
def oidc_provider_factory() -> Iterator[Callable[..., OIDCProvider]]:
    """Start providers (``factory(shape="checkin", clients=[...])``); all stopped at teardown."""
    started: list[OIDCProvider] = []

    def factory(**kwargs: object) -> OIDCProvider:
        op = OIDCProvider(**kwargs)  # type: ignore[arg-type]
        started.append(op)
        return op.start()

    yield factory
    for op in started:
        op.stop()


def follow_until(
    session: requests.Session, response: requests.Response, stop_prefix: str
) -> requests.Response:
    """Follow redirects by hand until one points at ``stop_prefix``; return that response."""
    for _ in range(20):
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307) or location is None:
            return response
        target = urljoin(response.url, location)
        if target.startswith(stop_prefix):
            return response
        response = session.get(target, allow_redirects=False)
    raise AssertionError("too many redirects")


def login_at_provider(
    session: requests.Session, hub_url: str, username: str, password: str
) -> str | requests.Response:
    """Start a hub login and fill the provider's form. Returns the hub callback URL the provider
    redirects to (not fetched), or the provider's page when it did not redirect."""
    callback = hub_url.rstrip("/") + "/hub/oauth_callback"
    page = session.get(hub_url.rstrip("/") + "/hub/oauth_login", allow_redirects=True)
    if 'name="username"' not in page.text:
        return page
    answer = session.post(
        page.url, data={"username": username, "password": password}, allow_redirects=False
    )
    if answer.status_code == 200:
        return answer  # the form again, with an error
    last = follow_until(session, answer, callback)
    target = urljoin(last.url, last.headers["location"])
    assert urlparse(target).path.endswith("/hub/oauth_callback"), target
    return target


def scripted_login(
    session: requests.Session, hub_url: str, username: str, password: str
) -> requests.Response:
    """Log in through the hub and the provider's form, like a browser without JavaScript.

    Returns the hub's answer to the OAuth callback (not followed): 302 when logged in, else
    the error page (or the provider's page when the login did not get that far).
    """
    target = login_at_provider(session, hub_url, username, password)
    if isinstance(target, requests.Response):
        return target
    return session.get(target, allow_redirects=False)
