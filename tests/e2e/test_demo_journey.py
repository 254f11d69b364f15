"""`make demo` on a machine without a GPU, walked through in Chromium as a newcomer would.

The demo runner itself is started (`python -m jupyterhub_imagine.demo.run`, on free ports) and
stopped with SIGINT, as Ctrl-C does. Nothing is faked by the test: the GPUs are the demo's own
simulated ones (what `make demo` shows on a machine without a GPU), the storage is its
`rclone serve webdav`, the software its CVMFS-shaped tree. Only the culler's policy is made faster
than the demo's, so its warning comes within the test's time.

Every page is checked for raw error text, and screenshots go to test-artifacts/demo/.
After stopping alice's server, and after stopping the demo, nothing it started is left.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyterhub_imagine.demo.leftovers import WATCHED, fuse_mounts_under, processes_naming
from tests.support.browser import FETCH_JSON, in_browser, provider_sign_in, screenshot
from tests.support.net import free_port

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
RAW_ERRORS = ("Traceback", "Exception", "does not exist", "reason=")
GPU_SLUG = "gpu-nvidia-a100-sxm4-40gb"
STACK = "software.imagine.example 2025.06"

# Faster than the demo's policy (warn after 2 idle minutes), so the warning comes in seconds.
FAST_CULLER = {"cull_every": 2, "gpu_idle_timeout": 6, "warning_lead": 600}


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    url: str
    state: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for_banner(demo: Demo, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while "demo is running" not in demo.output():
        if demo.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the demo did not start:\n{demo.output()[-4000:]}")
        time.sleep(0.2)


SERVER_PROGRAMS = ("rclone", "jupyterhub-singleuser")


def leftovers(state: Path, servers_only: bool = False) -> list[str]:
    """FUSE mounts and processes under the demo's state directory (with ``servers_only``, only
    what belongs to user servers: the hub, its proxy and the culler keep running)."""
    programs = SERVER_PROGRAMS if servers_only else WATCHED
    return fuse_mounts_under(state) + [t for _, t in processes_naming(state, programs)]


def interrupt(demo: Demo, timeout: float = 90.0) -> int:
    """Ctrl-C: SIGINT to the runner; then its return code."""
    demo.proc.send_signal(signal.SIGINT)
    try:
        return demo.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        demo.proc.kill()
        demo.proc.wait()
        raise


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("demo-journey")
    port = free_port()
    ports = {"--port": port, "--provider-port": free_port(), "--hub-port": free_port(),
             "--proxy-api-port": free_port(), "--culler-port": free_port(),
             "--webdav-port": free_port()}
    argv = [sys.executable, "-m", "jupyterhub_imagine.demo.run", "--state-dir", str(tmp / "state"),
            "--gpus", "simulated", *(f"{k}={v}" for k, v in ports.items())]
    env = {**os.environ, "IMAGINE_DEMO_CULLING": json.dumps(FAST_CULLER), "PYTHONUNBUFFERED": "1"}
    log = tmp / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    running = Demo(proc, f"http://127.0.0.1:{port}", (tmp / "state").resolve(), log)
    try:
        wait_for_banner(running)
        yield running
    finally:
        if proc.poll() is None:
            interrupt(running)
        print(running.output()[-3000:])


def shot(page: Any, name: str) -> None:
    screenshot(page, "demo", name)


def assert_clean(page: Any, where: str) -> None:
    text = page.inner_text("body")
    found = [raw for raw in RAW_ERRORS if raw in text]
    assert not found, f"{where} shows raw error text {found}:\n{text[:2000]}"


def sign_in(page: Any, demo: Demo, username: str) -> None:
    provider_sign_in(
        page, demo.url, username, on_login_page=lambda p: assert_clean(p, "login page")
    )


def gpu(page: Any) -> dict[str, Any]:
    return dict(page.evaluate(FETCH_JSON, "/user/alice/jupyterhub-imagine/api/gpu"))


def open_sidebar(page: Any, panel_id: str) -> Any:
    page.click(f"li[data-id='{panel_id}']")
    panel = page.locator(f"#{panel_id}")
    panel.wait_for(state="visible")
    return panel


def run_in_notebook(page: Any, code: str) -> None:
    """Type ``code`` into the active notebook's first empty cell and run it."""
    cell = page.locator(".jp-NotebookPanel:visible .jp-Cell .jp-InputArea-editor").last
    cell.click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")


def choose_kernel_if_asked(page: Any) -> None:
    """JupyterLab may ask which kernel a notebook should use: take the one it proposes."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    try:
        dialog.wait_for(timeout=5_000)
    except Exception:  # noqa: BLE001 - not asked
        return
    dialog.get_by_role("button", name="Select").click()


def spawn_gpu_server(page: Any, demo: Demo) -> None:
    sign_in(page, demo, "alice")
    page.wait_for_selector("fieldset.imagine-profiles")
    form = page.inner_text("fieldset.imagine-profiles")
    assert "CPU only" in form
    assert "2 of 2 GPUs free (simulated)" in form, form
    assert "MIG slices free (simulated)" in form, form
    assert_clean(page, "spawn form")
    shot(page, "01-alice-spawn-form")
    page.check(f"#profile-item-{GPU_SLUG}")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/user/alice/lab**", timeout=120_000)
    page.wait_for_selector("#imagine-share-button", timeout=120_000)
    status = page.locator("#imagine-gpu-status")
    status.wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('#imagine-gpu-status').textContent.includes('simulated')"
    )
    assert_clean(page, "JupyterLab")
    # the Share button fits in the top bar (it was clipped at the bottom)
    share = page.locator("#imagine-share-button").bounding_box()
    top = page.locator("#jp-top-panel").bounding_box()
    assert share and top and share["y"] + share["height"] <= top["y"] + top["height"]
    shot(page, "02-alice-lab")


def train_and_watch_the_chart(page: Any) -> None:
    page.locator(".jp-DirListing-item", has_text="train-on-the-gpu.ipynb").dblclick()
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=30_000)
    choose_kernel_if_asked(page)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=60_000)
    page.locator(".jp-NotebookPanel:visible .jp-CodeCell").first.click()
    page.keyboard.press("Shift+Enter")
    choose_kernel_if_asked(page)
    page.click("#imagine-gpu-status")  # opens the GPU panel
    panel = page.locator(".imagine-GpuPanel")
    panel.wait_for(state="visible")
    deadline = time.monotonic() + 60
    while (gpu(page)["gpus"][0]["utilization"] or 0) < 50:
        assert time.monotonic() < deadline, gpu(page)
        page.wait_for_timeout(500)
    # the chart moves: its line changes between two samples
    line = panel.locator("svg polyline, svg path").first
    line.wait_for()
    before = line.get_attribute("points") or line.get_attribute("d")
    page.wait_for_function(
        "(b) => { const l = document.querySelector('.imagine-GpuPanel svg polyline, "
        ".imagine-GpuPanel svg path'); return (l.getAttribute('points') || "
        "l.getAttribute('d')) !== b; }",
        arg=before, timeout=30_000,
    )
    assert "Simulated GPUs" in panel.inner_text()
    assert_clean(page, "GPU panel")
    shot(page, "03-alice-training-gpu-panel")


def settled(page: Any, selector: str) -> None:
    """Wait until the element has slid fully into the window (for a readable screenshot)."""
    page.wait_for_function(
        "(s) => { const r = document.querySelector(s).getBoundingClientRect();"
        " return r.right <= window.innerWidth && r.left >= 0; }", arg=selector)


def keep_the_gpu(page: Any) -> None:
    toast = page.locator(".Toastify__toast", has_text="Keep my GPU")
    toast.wait_for(timeout=150_000)  # training (~30 s) ends, then 6 idle seconds
    settled(page, ".Toastify__toast")
    shot(page, "04-alice-cull-warning")
    toast.get_by_role("button", name="Keep my GPU").click()
    page.locator(".Toastify__toast", has_text="GPU kept").wait_for(timeout=20_000)
    assert_clean(page, "after keep")
    shot(page, "05-alice-kept")


def mount_the_demo_storage(page: Any) -> None:
    panel = open_sidebar(page, "imagine-data-panel")
    item = panel.locator("li[data-mount='demo-storage']")
    item.wait_for(timeout=20_000)
    assert_clean(page, "Data panel")
    shot(page, "06-alice-data-panel")
    item.get_by_role("button", name="Mount demo-storage").click()
    item.get_by_text("Mounted").wait_for(timeout=45_000)
    item.get_by_role("button", name="Open demo-storage in the file browser").click()
    page.locator(".jp-DirListing-item", has_text="measurements.csv").dblclick()
    # the CSV viewer draws on a canvas: wait for its tab and its grid
    page.locator(".lm-TabBar-tab", has_text="measurements.csv").wait_for(timeout=30_000)
    page.locator(".jp-CSVViewer").first.wait_for(timeout=30_000)
    assert_clean(page, "file from the storage")
    shot(page, "07-alice-file-from-storage")


def use_a_stack_kernel(page: Any) -> None:
    panel = open_sidebar(page, "imagine-software-panel")
    stack = panel.locator("li[data-stack]", has_text=STACK)
    stack.wait_for(timeout=30_000)
    assert "unpacked.imagine.example" in panel.locator("#imagine-software-images").inner_text()
    stack.get_by_role("button", name=f"Show the modules of {STACK}").click()
    panel.get_by_label("Python/3.11.5").check()
    assert_clean(page, "Software panel")
    shot(page, "08-alice-software-panel")
    stack.get_by_role("button", name=f"Use {STACK} in a new kernel").click()
    panel.get_by_text("is now in the launcher").wait_for(timeout=20_000)
    page.locator(".lm-TabBar-tab", has_text="Launcher").first.click()
    card = page.locator(".jp-LauncherCard:visible", has_text=STACK).first
    card.wait_for(timeout=20_000)
    card.click()
    page.wait_for_function(
        "(s) => document.querySelector('.jp-StatusBar-Widget, #jp-main-statusbar')"
        ".textContent.includes(s + ' | Idle')", arg=STACK, timeout=90_000)
    run_in_notebook(page, "import os; print('stack', os.environ['IMAGINE_STACK_VERSION'], "
                          "os.environ['LOADEDMODULES'])")
    page.locator(".jp-OutputArea-output", has_text="stack 2025.06 Python/3.11.5").wait_for(
        timeout=60_000)
    assert_clean(page, "stack kernel")
    shot(page, "09-alice-stack-kernel")


def stop_the_server(page: Any, demo: Demo) -> None:
    page.goto(f"{demo.url}/hub/home")
    assert_clean(page, "hub home")
    assert page.locator(".imagine-gpu-warning").count() <= 1
    page.click("#stop")
    # "#start" is there all along ("My Server"); "#stop" goes once the server has stopped
    page.wait_for_selector("#stop", state="hidden", timeout=60_000)
    shot(page, "10-alice-stopped")


def test_alice_tries_everything_on_simulated_gpus(demo: Demo) -> None:
    def steps(page: Any) -> None:
        try:
            spawn_gpu_server(page, demo)
            train_and_watch_the_chart(page)
            keep_the_gpu(page)
            mount_the_demo_storage(page)
            use_a_stack_kernel(page)
            stop_the_server(page, demo)
        except BaseException:
            shot(page, "failed-here")
            raise

    in_browser(steps, timeout_ms=60_000)


def test_the_stopped_server_left_no_mount_and_no_process(demo: Demo) -> None:
    """Stopping alice's server (from the hub's home page) unmounted her storage and ended its
    rclone; her server process is gone too."""
    deadline = time.monotonic() + 30
    while leftovers(demo.state, servers_only=True) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers(demo.state, servers_only=True) == []


def test_bob_gets_the_cpu_profile_only(demo: Demo) -> None:
    def steps(page: Any) -> None:
        sign_in(page, demo, "bob")
        page.wait_for_selector("fieldset.imagine-profiles, #jp-main-dock-panel",
                               timeout=120_000)
        text = page.inner_text("body")
        assert "A100" not in text and "MIG" not in text
        assert_clean(page, "bob's page")
        shot(page, "11-bob")

    in_browser(steps)


def test_carol_is_refused_with_a_way_out(demo: Demo) -> None:
    def steps(page: Any) -> None:
        sign_in(page, demo, "carol")
        text = page.inner_text("body")
        assert "vo.imagine.example" in text
        assert_clean(page, "carol's refusal")
        shot(page, "12-carol-refused")
        logout = page.get_by_role("link", name="Log out")
        logout.wait_for()
        assert "oauth_callback" not in page.url
        logout.click()
        page.wait_for_url("**/hub/login**", timeout=30_000)

    in_browser(steps)


def test_ctrl_c_stops_everything(demo: Demo) -> None:
    assert interrupt(demo) == 0
    output = demo.output()
    plain = output.replace("\x1b[31m", "").replace("\x1b[39m", "")
    # start-up: the demo waits for the hub's route, so the proxy never answers 404 or refuses
    assert "ECONNREFUSED" not in output
    assert "error: 404" not in plain
    assert leftovers(demo.state) == []
    # no GPU is recorded as held: the record is each server's spawner state in the hub database
    with closing(sqlite3.connect(demo.state / "jupyterhub.sqlite")) as db:
        rows = db.execute("SELECT state FROM spawners").fetchall()
    assert not [state for (state,) in rows if json.loads(state or "{}").get("imagine_devices")]


def test_ctrl_c_left_nothing_to_clean_up_and_printed_no_traceback(demo: Demo) -> None:
    """The demo's own clean-up had nothing to end (each part stopped what it started), and no
    part of it died with a traceback."""
    output = demo.output()
    assert "left running" not in output and "left mounted" not in output, output[-3000:]
    assert "Traceback" not in output, output[-4000:]
