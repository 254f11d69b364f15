"""Accessibility of the extension's UI in a real Chromium: labelled controls, keyboard use,
and readable colours in the light and the dark theme (screenshots of both).

FAKE: NVML (no GPU here) and the culler identity (no hub here), as in test_gpu_warnings_ui.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.serverext import cvmfs_tree
from tests.support import fake_nvml
from tests.support.browser import in_browser, screenshot

from .lab import Lab, running_lab

pytestmark = [pytest.mark.e2e, pytest.mark.fake]
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
PANELS = ":is(#imagine-data-panel, #imagine-software-panel)"

# Every control of ours with no accessible name (aria-label, <label for>, or its own text).
UNLABELLED = f"""() => [...document.querySelectorAll(
    '{PANELS} :is(button, input, select), #imagine-cull-countdown, #imagine-share-button')]
  .filter(e => !(e.getAttribute('aria-label') || (e.labels && e.labels.length)
                 || e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 120))"""

# WCAG contrast ratio of an element's text colour against the first opaque background behind it.
CONTRAST = """(selector) => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const el = document.querySelector(selector);
  let bg = null;
  for (let n = el; n && !bg; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] === 1)) bg = c.slice(0, 3);
  }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg || [255, 255, 255])];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture(scope="module", params=sorted(THEMES))
def themed(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Lab]]:
    tmp = tmp_path_factory.mktemp(f"a11y-{request.param}")
    config = {"ImagineSoftwareCatalog": {"root": str(cvmfs_tree.build(tmp / "cvmfs"))}}
    with running_lab(tmp, theme=THEMES[request.param], config=config) as lab:
        lab.set_gpus([fake_nvml.a100("GPU-fake-0", utilization=3, memory_used=2**30)])
        yield request.param, lab


def test_controls_are_labelled_keyboard_usable_and_readable(themed: tuple[str, Lab]) -> None:
    theme, lab = themed

    def steps(page: Any) -> None:
        page.goto(lab.lab_url() + "&reset")
        page.wait_for_selector("#imagine-gpu-status", state="visible", timeout=60_000)
        lab.warn(lead=240)  # under 5 minutes: the urgent colour
        page.wait_for_selector("#imagine-cull-countdown", state="visible")
        page.click("li[data-id='imagine-data-panel']")
        page.get_by_role("button", name="Add storage").click()
        # keyboard: the form opened with focus on its first control; Tab walks the fields
        assert page.evaluate("document.activeElement.id") == "imagine-mount-preset"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "imagine-mount-field-name"
        screenshot(page, "labextension", f"theme-{theme}-data-and-warning")
        assert page.evaluate(UNLABELLED) == []
        ratios = {
            sel: page.evaluate(CONTRAST, sel)
            for sel in ["#imagine-cull-countdown", "#imagine-gpu-status",
                        "#imagine-data-panel .imagine-Panel-title",
                        "#imagine-data-panel .imagine-Field-help"]
        }
        page.click("li[data-id='imagine-software-panel']")
        page.locator("li[data-stack]").first.wait_for()
        screenshot(page, "labextension", f"theme-{theme}-software")
        assert page.evaluate(UNLABELLED) == []
        ratios["repository state"] = page.evaluate(
            CONTRAST, "#imagine-software-repos .imagine-State")
        # AA for text (4.5) on body text; 3 for the coloured status words, which are bold/UI
        low = {k: round(v, 2) for k, v in ratios.items() if v < 3.0}
        assert low == {}, ratios
        # the countdown is a real button: Enter opens its details from the keyboard
        page.focus("#imagine-cull-countdown")
        page.keyboard.press("Enter")
        page.locator(".jp-Dialog", has_text="This server will stop soon").wait_for()
        screenshot(page, "labextension", f"theme-{theme}-warning-details")
        page.keyboard.press("Escape")

    in_browser(steps, timeout_ms=60_000)
