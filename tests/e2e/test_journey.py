"""The whole journey in a real browser (Debian chromium driven by Playwright) against the demo stack:
the development OpenID provider, a real JupyterHub with configurable-http-proxy, the local spawner
and real user servers with the server extension and the labextension. Only NVML is a FAKE (two
A100s described in a JSON file), since the test machines have no GPU.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hub import REPO, demo_hub

pytestmark = pytest.mark.e2e
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with demo_hub(tmp_path_factory.mktemp("journey")) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is required (make test installs it)"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page, hub, username: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.get_by_role("link", name="Sign in").or_(page.locator("a.btn-jupyter")).first.click()
    page.wait_for_selector("#login-form")
    page.fill("#username", username)
    page.fill("#password", username)
    shot(page, f"{username}-provider-login")
    page.click("#submit")


def test_member_logs_in_picks_a_gpu_profile_works_in_lab_and_logs_out(hub, browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    login(page, hub, "alice")

    # The profile form: CPU and the GPU profiles derived from the (fake) NVML, with availability.
    page.wait_for_selector("fieldset.imagine-profiles")
    form_text = page.inner_text("fieldset.imagine-profiles")
    assert "CPU only" in form_text
    assert "1 × NVIDIA A100-SXM4-40GB" in form_text
    assert "2 of 2 GPUs free" in form_text
    shot(page, "alice-spawn-form")
    page.check("#profile-item-gpu-nvidia-a100-sxm4-40gb")
    page.get_by_role("button", name="Start").click()

    # JupyterLab with the labextension loaded and the server extension answering.
    page.wait_for_url("**/user/alice/lab**", timeout=120_000)
    page.wait_for_selector("#imagine-share-button", timeout=120_000)
    page.wait_for_selector("#imagine-gpu-status", state="visible")
    status = page.evaluate(
        "async () => (await fetch('/user/alice/jupyterhub-imagine/api/status')).json()"
    )
    assert status["profile"] == "gpu-nvidia-a100-sxm4-40gb"
    gpu = page.evaluate("async () => (await fetch('/user/alice/jupyterhub-imagine/api/gpu')).json()")
    assert [g["uuid"] for g in gpu["gpus"]] == ["GPU-fake-0"]
    assert "41" in page.inner_text("#imagine-gpu-status")
    shot(page, "alice-lab")

    # While alice holds a GPU the form shows one fewer free (a second, named server's view).
    ledger = json.loads((Path(hub.settings.state_dir) / "gpu-allocations.json").read_text())
    assert ledger["allocations"]["alice/"]["devices"] == ["GPU-fake-0"]

    # Stop the server from the hub's home page, then log out.
    page.goto(f"{hub.url}/hub/home")
    page.click("#stop")
    page.wait_for_selector("#start", state="visible", timeout=60_000)
    ledger = json.loads((Path(hub.settings.state_dir) / "gpu-allocations.json").read_text())
    assert "alice/" not in ledger["allocations"]
    page.goto(f"{hub.url}/hub/logout")
    page.wait_for_load_state()
    shot(page, "alice-logged-out")
    if page.locator("#logout").count():
        page.click("#logout")  # the provider asks to confirm its own sign-out
        page.wait_for_load_state()
    page.goto(f"{hub.url}/hub/home")
    assert "/hub/login" in page.url
    context.close()


def test_outsider_gets_a_clear_refusal_page(hub, browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    responses = []
    page.on("response", lambda r: responses.append(r) if "/hub/oauth_callback" in r.url else None)
    login(page, hub, "carol")
    page.wait_for_load_state()
    shot(page, "carol-refused")
    text = page.inner_text("body")
    assert "vo.imagine.example" in text
    assert "Traceback" not in text
    assert responses and responses[-1].status == 403
    context.close()
