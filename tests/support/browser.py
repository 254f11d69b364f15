"""Debian's Chromium driven by Playwright, for browser journeys."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is required: `make test` installs it"
    return executable


def in_browser(steps: Callable[[Any], None], timeout_ms: int = 30_000) -> None:
    """Run ``steps(page)`` in a fresh Chromium, in a worker thread: Playwright's sync API must not
    share the thread whose asyncio loop pytest-jupyter's fixtures own."""
    from playwright.sync_api import sync_playwright

    executable = chromium()

    def run() -> None:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context().new_page()
                page.set_default_timeout(timeout_ms)
                steps(page)
            finally:
                browser.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()


def screenshot(page: Any, group: str, name: str) -> None:
    """Save a full-page screenshot under test-artifacts/<group>/ (kept by CI as an artifact)."""
    folder = ARTIFACTS / group
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


# Same-origin fetches from the page carry the XSRF token, as the labextension's requests do.
FETCH_JSON = """async (url) => {
  const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
  return (await fetch(url, {headers: {'X-XSRFToken': decodeURIComponent(xsrf)}})).json();
}"""


def provider_sign_in(
    page: Any,
    hub_url: str,
    username: str,
    *,
    on_login_page: Callable[[Any], None] | None = None,
    on_provider_form: Callable[[Any], None] | None = None,
) -> None:
    """Sign in through the hub's login button and the development OpenID provider's form
    (its demo users' password is their name)."""
    page.goto(f"{hub_url}/hub/login")
    if on_login_page:
        on_login_page(page)
    provider_form_login(page, username, on_provider_form=on_provider_form)


def provider_form_login(
    page: Any, username: str, *, on_provider_form: Callable[[Any], None] | None = None
) -> None:
    """From the hub's login page (reached directly or by a redirect), through the development
    OpenID provider's form."""
    page.click("a[href*='oauth_login']")
    page.wait_for_selector("#login-form")
    page.fill("#username", username)
    page.fill("#password", username)
    if on_provider_form:
        on_provider_form(page)
    page.click("#submit")
    page.wait_for_load_state()
