"""The GPU status item and the culler warnings in a real Chromium against a real JupyterLab.

FAKE: NVML (tests/support/fake_nvml.py, no GPU here) and the culler's hub identity
(identity_double.py, no hub here). The labextension, jupyter-server with the server
extension and the browser are real.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.support import fake_nvml
from tests.support.browser import in_browser, screenshot

from .lab import API, Lab, running_lab

pytestmark = [pytest.mark.e2e, pytest.mark.fake]
GIB = 2**30


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


@pytest.fixture(autouse=True)
def clean_state(lab: Lab) -> None:
    lab.api("DELETE", "warning", culler=True).raise_for_status()
    lab.set_gpus([fake_nvml.a100("GPU-fake-0", utilization=41, memory_used=3 * GIB)])


def shot(page: Any, name: str) -> None:
    screenshot(page, "labextension", name)


def open_lab(page: Any, lab: Lab) -> None:
    page.goto(lab.lab_url())
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.wait_for_selector("#imagine-gpu-status", state="visible", timeout=30_000)


def status_text(page: Any) -> str:
    return str(page.inner_text("#imagine-gpu-status"))


def test_gpu_item_shows_the_fake_samplers_numbers_and_follows_them(lab: Lab) -> None:
    def steps(page: Any) -> None:
        open_lab(page, lab)
        page.wait_for_function(
            "() => document.querySelector('#imagine-gpu-status').textContent"
            " === 'GPU0 41% 3.0/40.0 GiB'"
        )
        shot(page, "gpu-status")
        lab.set_gpus([fake_nvml.a100("GPU-fake-0", utilization=87, memory_used=12 * GIB)])
        page.wait_for_function(
            "() => document.querySelector('#imagine-gpu-status').textContent"
            " === 'GPU0 87% 12.0/40.0 GiB'",
            timeout=10_000,
        )
        title = page.get_attribute("#imagine-gpu-status", "title")
        assert "NVIDIA A100-SXM4-40GB" in title and "utilization 87%" in title
        # MIG: utilization NVML cannot report reads n/a, never 0%
        lab.set_gpus([fake_nvml.mig_a100("GPU-fake-0", ["1g.5gb"])])
        page.wait_for_function(
            "() => document.querySelector('#imagine-gpu-status').textContent"
            " === 'GPU0 1g.5gb n/a 0.0/5.0 GiB'",
            timeout=10_000,
        )
        # no countdown without a warning
        assert page.is_hidden("#imagine-cull-countdown")

    in_browser(steps, timeout_ms=60_000)


def countdown_seconds(text: str) -> int:
    match = re.fullmatch(r"GPU idle: stops in (\d+):(\d\d)", text)
    assert match, text
    return int(match.group(1)) * 60 + int(match.group(2))


def test_warning_shows_countdown_and_keep_reaches_the_server(lab: Lab) -> None:
    def steps(page: Any) -> None:
        open_lab(page, lab)
        lab.warn(lead=600, left=2)
        page.wait_for_selector("#imagine-cull-countdown", state="visible", timeout=10_000)
        toast = page.locator(".Toastify__toast", has_text="The GPU has been idle")
        toast.wait_for(timeout=10_000)
        assert "this server will stop at" in toast.inner_text()
        first = countdown_seconds(page.inner_text("#imagine-cull-countdown"))
        assert 590 <= first <= 600
        page.wait_for_timeout(2100)
        second = countdown_seconds(page.inner_text("#imagine-cull-countdown"))
        assert 1 <= first - second <= 3, (first, second)
        label = page.get_attribute("#imagine-cull-countdown", "aria-label")
        assert label and label.startswith("The GPU is idle: this server stops at")
        shot(page, "cull-warning")

        assert lab.api("GET", "activity").json()["keep_requested_at"] is None
        toast.get_by_role("button", name="Keep my GPU").click()
        page.locator(".Toastify__toast", has_text="GPU kept").wait_for(timeout=10_000)
        activity = lab.api("GET", "activity").json()
        assert activity["keep_requested_at"] is not None
        assert activity["warning"]["postponements_left"] == 1
        # the server moved the stop to at least now + postpone_by; the countdown follows
        page.wait_for_function(
            "() => /stops in 1:0\\d:\\d\\d/.test("
            "document.querySelector('#imagine-cull-countdown').textContent)",
            timeout=10_000,
        )
        shot(page, "cull-warning-kept")

        # the culler withdraws the warning (GPU busy again): toast and countdown go away
        lab.api("DELETE", "warning", culler=True).raise_for_status()
        page.wait_for_selector("#imagine-cull-countdown", state="hidden", timeout=10_000)
        page.locator(".Toastify__toast", has_text="GPU stop was cancelled").wait_for()
        page.locator(".Toastify__toast", has_text="GPU kept").wait_for(state="detached")

    in_browser(steps, timeout_ms=60_000)


def test_refused_keep_shows_the_servers_message(lab: Lab) -> None:
    """The page still offers "keep" (its last sample), the server has none left: 409."""

    def steps(page: Any) -> None:
        stale: dict[str, Any] = {}

        def gpu_route(route: Any) -> None:
            if "body" in stale:  # frozen: the page keeps seeing the old sample
                route.fulfill(status=200, content_type="application/json", body=stale["body"])
                return
            response = route.fetch()
            body = response.text()
            warning = json.loads(body).get("warning") or {}
            if warning.get("postponements_left") == 1:
                stale["body"] = body
            route.fulfill(response=response, body=body)

        page.route(f"**{API}/gpu?*", gpu_route)
        open_lab(page, lab)
        lab.warn(left=1)
        page.wait_for_selector("#imagine-cull-countdown", state="visible", timeout=10_000)
        assert "body" in stale
        lab.warn(left=0)  # the culler's newer word, which the page has not seen
        kept_before = lab.api("GET", "activity").json()["keep_requested_at"]
        # keyboard only: focus the countdown, open its details, answer "keep"
        page.focus("#imagine-cull-countdown")
        page.keyboard.press("Enter")
        dialog = page.locator(".jp-Dialog")
        dialog.get_by_text("postpones the stop by 1 hour (1 time left)").wait_for()
        shot(page, "cull-warning-details")
        dialog.get_by_role("button", name="Keep my GPU").focus()
        page.keyboard.press("Enter")
        error = page.locator(".Toastify__toast", has_text="used all its postponements")
        error.wait_for(timeout=10_000)
        shot(page, "cull-warning-refused")
        activity = lab.api("GET", "activity").json()
        assert activity["keep_requested_at"] == kept_before
        assert activity["warning"]["postponements_left"] == 0

    in_browser(steps, timeout_ms=60_000)


def test_background_polling_is_never_reported_as_presence(lab: Lab) -> None:
    def last_presence() -> float | None:
        return lab.api("GET", "activity").json()["last_presence"]  # type: ignore[no-any-return]

    def steps(page: Any) -> None:
        seen: list[tuple[str, str]] = []
        page.on("request", lambda r: seen.append((r.method, urlparse(r.url).path)))
        open_lab(page, lab)
        lab.warn(lead=3600)  # polling with a warning pending must not count either
        before = last_presence()  # earlier tests in this module did type
        start = len(seen)
        page.wait_for_timeout(10_000)  # idle: nobody touches the page
        polls = [p for m, p in seen[start:] if m == "GET" and p == f"{API}/gpu"]
        # 0.5 s poll interval from the plugin settings: about 20 polls in 10 s
        assert len(polls) >= 10, len(polls)
        # not during the idle time, nor while the page loaded
        assert [p for _, p in seen if p == f"{API}/presence"] == []
        assert last_presence() == before

        # control: one real key press is reported, once
        page.keyboard.press("Shift")
        deadline = time.monotonic() + 10
        while last_presence() == before:
            assert time.monotonic() < deadline, "presence never reached the server"
            time.sleep(0.2)
        page.keyboard.press("Shift")  # rate-limited: at most one report a minute
        page.wait_for_timeout(500)
        assert [p for _, p in seen if p == f"{API}/presence"] == [f"{API}/presence"]

    in_browser(steps, timeout_ms=60_000)
