"""The GPU panel in a real Chromium against a real JupyterLab: opened from the status item,
one live chart per GPU that follows the sampler's numbers.

FAKE: NVML (tests/support/fake_nvml.py, no GPU here) and the culler's hub identity
(identity_double.py, no hub here). The labextension, jupyter-server with the server
extension and the browser are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import fake_nvml
from tests.support.browser import in_browser, screenshot

from .lab import Lab, running_lab

pytestmark = [pytest.mark.e2e, pytest.mark.fake]
GIB = 2**30
CHARTS = "#imagine-gpu-panel svg[role='img']"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("gpu-panel")) as lab:
        yield lab


def two_gpus(first: float, second: float) -> list[dict[str, Any]]:
    return [fake_nvml.a100("GPU-fake-0", utilization=first, memory_used=3 * GIB),
            fake_nvml.a100("GPU-fake-1", utilization=second, memory_used=10 * GIB)]


def labels(page: Any) -> list[str]:
    script = "els => els.map(e => e.getAttribute('aria-label'))"
    return list(page.eval_on_selector_all(CHARTS, script))


def test_status_item_opens_a_live_chart_per_gpu(lab: Lab) -> None:
    lab.set_gpus(two_gpus(41, 5))

    def steps(page: Any) -> None:
        page.goto(lab.lab_url() + "&reset")
        page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
        item = page.locator("#imagine-gpu-status")
        item.wait_for(state="visible", timeout=30_000)
        assert item.get_attribute("role") == "button"
        assert item.get_attribute("tabindex") == "0"
        assert (item.get_attribute("aria-label") or "").endswith("Open the GPU panel")

        item.click()
        page.wait_for_selector("#imagine-gpu-panel", state="visible", timeout=10_000)
        page.wait_for_function(f"() => document.querySelectorAll(\"{CHARTS}\").length === 2")
        first, second = labels(page)
        assert first.startswith("GPU0 (NVIDIA A100-SXM4-40GB): utilization 41%"), first
        assert second.startswith("GPU1 (NVIDIA A100-SXM4-40GB): utilization 5%, "
                                 "memory 10.0 of 40.0 GiB (25%)"), second
        assert page.get_by_role("tab", name="GPU").count() == 1

        # new sampler numbers reach the chart (and its screen reader label) without a click
        lab.set_gpus(two_gpus(87, 5))
        page.wait_for_function(
            f"() => document.querySelector(\"{CHARTS}\").getAttribute('aria-label')"
            ".includes('utilization 87%')",
            timeout=10_000,
        )
        # the line has a point per sample: several polls in, it is a line, not a dot
        d = page.get_attribute("#imagine-gpu-panel .imagine-GpuChart-utilization", "d")
        assert d and d.count("L") >= 1, d
        screenshot(page, "labextension", "gpu-panel")

        # keyboard: from another tab, Enter on the focused item brings the same panel back
        page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
        page.locator(".lm-Menu-itemLabel", has_text="New Launcher").click()
        page.wait_for_selector("#imagine-gpu-panel", state="hidden")
        item.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#imagine-gpu-panel", state="visible", timeout=10_000)
        assert page.locator("#imagine-gpu-panel").count() == 1
        assert page.get_by_role("tab", name="GPU").count() == 1

    in_browser(steps, timeout_ms=60_000)


def test_mig_instances_chart_memory_only(lab: Lab) -> None:
    lab.set_gpus([fake_nvml.mig_a100("GPU-fake-0", ["1g.5gb", "2g.10gb"])])

    def steps(page: Any) -> None:
        page.goto(lab.lab_url() + "&reset")
        item = page.locator("#imagine-gpu-status")
        item.wait_for(state="visible", timeout=60_000)
        item.focus()
        page.keyboard.press(" ")
        page.wait_for_function(f"() => document.querySelectorAll(\"{CHARTS}\").length === 2")
        for label in labels(page):
            assert "utilization n/a" in label and "of 5.0 GiB" in label, label
        chart = page.locator("#imagine-gpu-panel .imagine-GpuChart").first
        assert "utilization n/a" in chart.inner_text()
        assert chart.locator(".imagine-GpuChart-utilization").is_hidden()
        screenshot(page, "labextension", "gpu-panel-mig")

    in_browser(steps, timeout_ms=60_000)
