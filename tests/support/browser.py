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
