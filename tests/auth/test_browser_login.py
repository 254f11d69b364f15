"""Login, refusal and logout in a real browser (Debian chromium driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.auth.hub import VO, Hub, checkin_hub
from tests.support.browser import in_browser
from tests.support.oidc import OIDCProvider

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, OIDCProvider]]:
    enrol = "https://enrol.example.org/"
    with checkin_hub(tmp_path_factory.mktemp("hub"), enrollment_url=enrol) as running:
        yield running


def sign_in(page: Any, hub: Hub, username: str) -> None:
    # /hub/token needs a login and spawns nothing.
    page.goto(f"{hub.url}/hub/oauth_login?next=/hub/token")
    page.wait_for_selector("#login-form")
    page.fill("#username", username)
    page.fill("#password", username)
    page.click("#submit")
    page.wait_for_load_state()


def test_browser_login_and_logout(env: tuple[Hub, OIDCProvider]):
    hub, _ = env

    def steps(page: Any) -> None:
        sign_in(page, hub, "alice")
        page.wait_for_url("**/hub/token")
        assert "alice@egi.eu" in page.inner_text("body")
        page.goto(f"{hub.url}/hub/logout")
        # The provider's sign-out page submits itself, then sends the browser back to the hub.
        page.wait_for_url(f"{hub.url}/hub/login**")
        page.goto(f"{hub.url}/hub/oauth_login")
        page.wait_for_selector("#login-form")  # the provider session is gone too

    in_browser(steps)


def test_browser_outsider_sees_the_refusal_page(env: tuple[Hub, OIDCProvider]):
    hub, _ = env

    def steps(page: Any) -> None:
        sign_in(page, hub, "carol")
        text = page.inner_text("body")
        assert VO in text and "Traceback" not in text
        assert page.get_attribute("#enrollment-link", "href") == "https://enrol.example.org/"

    in_browser(steps)
