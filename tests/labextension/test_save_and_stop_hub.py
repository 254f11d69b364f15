""""Save and stop" from the culler warning, in a real JupyterHub with real user servers.

FAKE: NVML only (tests/support/fake_nvml.py). The hub, the proxy, jupyterhub-singleuser with
the server extension, the labextension and Chromium are real. The test stands in for the
culler by PUTting the warning with a hub service token, through the proxy, as the culler does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import fake_nvml
from tests.support.browser import in_browser, screenshot
from tests.support.minihub import MiniHub, mini_hub

from .lab import API, REPO, _settings

pytestmark = [pytest.mark.e2e, pytest.mark.fake]
CULLER_TOKEN = secrets.token_hex(16)

CONFIG = """
import sys
from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import default


class PerUserScopesSpawner(SimpleLocalProcessSpawner):
    # What lets "save and stop" work: the user's token for their server may stop that server.
    # bob's server does not get it, so his page must send him to the hub's home page instead.
    # (A list, not a callable: JupyterHub 6 puts the value into the server's environment.)
    @default("oauth_client_allowed_scopes")
    def _per_user(self):
        return ["delete:servers!server"] if self.user.name == "alice" else []


c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = PerUserScopesSpawner
c.Spawner.home_dir_template = "{home}/{{username}}"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--allow-root", "--ImagineServerExtension.nvml_module=tests.support.fake_nvml"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 90
c.Spawner.environment = {{
    "PYTHONPATH": {repo!r},
    "IMAGINE_FAKE_NVML": {nvml!r},
    "JUPYTERLAB_SETTINGS_DIR": {settings!r},
    "JUPYTER_CONFIG_DIR": {jupyter_config!r},
}}
c.JupyterHub.services.append({{"name": "imagine-culler", "api_token": {culler!r}}})
c.JupyterHub.load_roles.append(
    {{"name": "culler", "services": ["imagine-culler"], "scopes": ["access:servers"]}}
)
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniHub]:
    tmp = tmp_path_factory.mktemp("stophub")
    nvml = tmp / "nvml.json"
    fake_nvml.write_state(str(nvml), [fake_nvml.a100("GPU-fake-0", utilization=0)])
    _settings(tmp / "settings", poll_interval=0.5)
    config = CONFIG.format(home=tmp / "home", repo=str(REPO), nvml=str(nvml),
                           settings=str(tmp / "settings"), jupyter_config=str(tmp / "jconfig"),
                           culler=CULLER_TOKEN)
    with mini_hub(tmp, config) as h:
        yield h


def start_server(hub: MiniHub, user: str) -> Path:
    hub.api("POST", "/users", json={"usernames": [user]})
    r = hub.api("POST", f"/users/{user}/server")
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + 90
    while not hub.api("GET", f"/users/{user}").json()["servers"].get("", {}).get("ready"):
        assert time.monotonic() < deadline, hub.log.read_text()[-3000:]
        time.sleep(0.5)
    home = hub.state.parent / "home" / user
    (home / "notes.txt").write_text("first line\n")
    return home


def warn(hub: MiniHub, user: str) -> None:
    now = time.time()
    r = requests.put(
        f"{hub.url}/user/{user}{API}/warning",
        headers={"Authorization": f"token {CULLER_TOKEN}"},
        json={"issued_at": now - 1, "stop_at": now + 900, "reason": "GPU idle",
              "postponements_left": 2, "postpone_by": 3600},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def login_and_edit(page: Any, hub: MiniHub, user: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", "any")
    page.click("#login_submit")
    page.goto(f"{hub.url}/user/{user}/lab/tree/notes.txt")
    editor = page.locator(".jp-FileEditor .cm-content")
    editor.wait_for(timeout=60_000)
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("typed before the stop\n")
    page.locator(".jp-mod-dirty").first.wait_for()  # unsaved


def save_and_stop(page: Any) -> None:
    toast = page.locator(".Toastify__toast", has_text="The GPU has been idle")
    toast.wait_for(timeout=20_000)
    toast.get_by_role("button", name="Save and stop").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Save and stop").click()


def server_running(hub: MiniHub, user: str) -> bool:
    return "" in hub.api("GET", f"/users/{user}").json()["servers"]


def test_save_and_stop_saves_then_stops_through_the_hub(hub: MiniHub) -> None:
    home = start_server(hub, "alice")

    def steps(page: Any) -> None:
        login_and_edit(page, hub, "alice")
        warn(hub, "alice")
        save_and_stop(page)
        page.wait_for_url("**/hub/home", timeout=30_000)
        deadline = time.monotonic() + 60
        while server_running(hub, "alice"):
            assert time.monotonic() < deadline, "the server did not stop"
            time.sleep(0.5)
        screenshot(page, "labextension", "save-and-stop-hub-home")

    in_browser(steps, timeout_ms=60_000)
    assert (home / "notes.txt").read_text() == "first line\ntyped before the stop\n"


def test_without_the_stop_scope_the_user_is_sent_to_the_hub(hub: MiniHub) -> None:
    home = start_server(hub, "bob")

    def steps(page: Any) -> None:
        login_and_edit(page, hub, "bob")
        warn(hub, "bob")
        save_and_stop(page)
        dialog = page.locator(".jp-Dialog", has_text="Stop the server from the hub")
        dialog.wait_for(timeout=20_000)
        screenshot(page, "labextension", "save-and-stop-forbidden")
        assert server_running(hub, "bob")
        dialog.get_by_role("button", name="Open the hub home page").click()
        page.wait_for_url("**/hub/home", timeout=30_000)

    in_browser(steps, timeout_ms=60_000)
    assert (home / "notes.txt").read_text() == "first line\ntyped before the stop\n"
    assert server_running(hub, "bob")
