"""The whole journey in a real browser (Debian chromium driven by Playwright) against the demo
stack: the development OpenID provider, a real JupyterHub with configurable-http-proxy, the local
spawner and real user servers with the server extension and the labextension. Only NVML is a FAKE
(two A100s described in a JSON file), since the test machines have no GPU.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from jupyterhub_imagine.demo.stack import DemoStack
from tests.support.browser import FETCH_JSON, in_browser, provider_sign_in, screenshot
from tests.support.hub import demo_hub

pytestmark = [pytest.mark.e2e, pytest.mark.fake]
GPU_SLUG = "gpu-nvidia-a100-sxm4-40gb"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with demo_hub(tmp_path_factory.mktemp("journey")) as stack:
        yield stack


def shot(page: Any, name: str) -> None:
    screenshot(page, "e2e", name)


def sign_in(page: Any, hub: DemoStack, username: str) -> None:
    provider_sign_in(
        page, hub.url, username, on_provider_form=lambda p: shot(p, f"{username}-provider-login")
    )


def held_gpus(hub: DemoStack) -> dict[str, list[str]]:
    """``user/server`` -> GPU devices, from the spawner state in the hub database (the record)."""
    query = ("SELECT users.name, spawners.name, spawners.state FROM spawners"
             " JOIN users ON users.id = spawners.user_id")
    with closing(sqlite3.connect(Path(hub.settings.state_dir) / "jupyterhub.sqlite")) as db:
        rows = db.execute(query).fetchall()
    held = {f"{user}/{name}": json.loads(state or "{}").get("imagine_devices")
            for user, name, state in rows}
    return {key: devices for key, devices in held.items() if devices}


def test_member_picks_a_gpu_profile_works_in_lab_stops_and_logs_out(hub: DemoStack) -> None:
    def steps(page: Any) -> None:
        sign_in(page, hub, "alice")
        # The profile form: CPU and the GPU profiles of the (fake) NVML, with availability.
        page.wait_for_selector("fieldset.imagine-profiles")
        form_text = page.inner_text("fieldset.imagine-profiles")
        assert "CPU only" in form_text
        assert "1 × NVIDIA A100-SXM4-40GB" in form_text
        assert "2 of 2 GPUs free" in form_text
        shot(page, "alice-spawn-form")
        page.check(f"#profile-item-{GPU_SLUG}")
        page.get_by_role("button", name="Start").click()

        # JupyterLab, with the labextension loaded and the server extension answering.
        page.wait_for_url("**/user/alice/lab**", timeout=120_000)
        page.wait_for_selector("#imagine-share-button", timeout=120_000)
        page.wait_for_selector("#imagine-gpu-status", state="visible")
        api = "/user/alice/jupyterhub-imagine/api"
        status = page.evaluate(FETCH_JSON, f"{api}/status")
        assert status.get("profile") == GPU_SLUG, status
        gpu = page.evaluate(FETCH_JSON, f"{api}/gpu")
        assert [g["uuid"] for g in gpu["gpus"]] == ["GPU-fake-0"]
        page.wait_for_function(
            "() => document.querySelector('#imagine-gpu-status').textContent.includes('41')"
        )
        shot(page, "alice-lab")
        assert held_gpus(hub)["alice/"] == ["GPU-fake-0"]

        # Stop the server from the hub's home page; its GPU goes back to the pool.
        page.goto(f"{hub.url}/hub/home")
        page.click("#stop")
        page.wait_for_selector("#start", state="visible", timeout=60_000)
        deadline = time.monotonic() + 30
        while "alice/" in held_gpus(hub) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "alice/" not in held_gpus(hub)

        # Log out of the hub and of the provider; the hub then asks for a login again.
        page.goto(f"{hub.url}/hub/logout")
        page.wait_for_url("**/hub/login**", timeout=30_000)
        shot(page, "alice-logged-out")
        page.goto(f"{hub.url}/hub/home")
        assert "/hub/login" in page.url

    in_browser(steps, timeout_ms=60_000)


def test_outsider_gets_a_clear_refusal_page(hub: DemoStack) -> None:
    def steps(page: Any) -> None:
        callbacks: list[Any] = []
        page.on("response", lambda r: "/hub/oauth_callback" in r.url and callbacks.append(r))
        sign_in(page, hub, "carol")
        shot(page, "carol-refused")
        text = page.inner_text("body")
        assert "vo.imagine.example" in text
        assert "https://example.org/enrol/vo.imagine.example" in page.content()
        assert "Traceback" not in text
        assert callbacks and callbacks[-1].status == 403

    in_browser(steps)
