"""The Data and Software panels in a real Chromium against a real JupyterLab.

Real: jupyter-server with the server extension, `rclone serve webdav` on loopback and
`rclone mount` over FUSE, the kernelspec manager and launcher. FAKE: NVML (no GPU here);
CVMFS is a directory tree laid out like /cvmfs (its client cannot be installed here).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.serverext import cvmfs_tree
from tests.serverext.webdav_support import WebDAVServer, needs_fuse, unmount_leftovers
from tests.support.browser import in_browser, screenshot

from .lab import Lab, running_lab

pytestmark = [pytest.mark.e2e, pytest.mark.fake]
PASSWORD = "pw-" + secrets.token_hex(8)
FAST_FAILING_RCLONE = ["--vfs-cache-mode", "writes", "--dir-cache-time", "1s",
                       "--contimeout", "2s", "--low-level-retries", "1"]


@pytest.fixture(scope="module")
def webdav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDAVServer]:
    remote = tmp_path_factory.mktemp("webdav")
    (remote / "hello-from-webdav.txt").write_text("hello\n")
    server = WebDAVServer(remote, "alice", PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("panels")
    cvmfs = cvmfs_tree.build(tmp / "cvmfs")
    config = {
        "ImagineServerExtension": {"insecure_http_hosts": ["127.0.0.1"]},  # the local WebDAV
        "ImagineMountManager": {"probe_timeout": 5.0, "rclone_mount_args": FAST_FAILING_RCLONE},
        "ImagineSoftwareCatalog": {"root": str(cvmfs), "apptainer_command": "apptainer-absent"},
    }
    try:
        with running_lab(tmp, config=config) as lab:
            yield lab
    finally:
        unmount_leftovers(tmp / "root" / "data")


def shot(page: Any, name: str) -> None:
    screenshot(page, "labextension", name)


def open_panel(page: Any, lab: Lab, panel_id: str) -> Any:
    page.goto(lab.lab_url() + "&reset")  # a fresh layout: the tab click opens, not toggles
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.click(f"li[data-id='{panel_id}']", timeout=30_000)
    return page.locator(f"#{panel_id}")


def fill_webdav(page: Any, panel: Any, name: str, url: str, password: str) -> None:
    panel.get_by_role("button", name="Add storage").click()
    panel.get_by_label("Storage type").select_option("webdav")
    panel.get_by_label("Folder name").fill(name)
    panel.get_by_label("WebDAV address").fill(url)
    panel.get_by_label("User name").fill("alice")
    panel.get_by_label("Password", exact=True).fill(password)
    panel.get_by_role("button", name="Mount", exact=True).click()


@needs_fuse
def test_data_panel_mounts_webdav_and_opens_it_in_the_file_browser(
    lab: Lab, webdav: WebDAVServer
) -> None:
    def steps(page: Any) -> None:
        panel = open_panel(page, lab, "imagine-data-panel")
        fill_webdav(page, panel, "work", webdav.url, PASSWORD)
        panel.get_by_text("work is mounted in data/work").wait_for(timeout=30_000)
        item = panel.locator("li[data-mount='work']")
        assert item.locator(".imagine-State").inner_text() == "Mounted"
        shot(page, "data-panel-mounted")
        assert lab.api("GET", "mounts/work").json()["state"] == "mounted"

        item.get_by_role("button", name="Open work in the file browser").click()
        page.locator(".jp-DirListing-item", has_text="hello-from-webdav.txt").wait_for()
        shot(page, "data-panel-file-browser")
        page.click("li[data-id='imagine-data-panel']")  # the file browser took the sidebar

        item.get_by_role("button", name="Unmount work").click()
        item.get_by_text("Not mounted").wait_for(timeout=20_000)
        assert lab.api("GET", "mounts/work").json()["state"] == "unmounted"

    in_browser(steps, timeout_ms=60_000)


@needs_fuse
def test_data_panel_shows_the_servers_message_for_a_bad_mount(
    lab: Lab, webdav: WebDAVServer
) -> None:
    def steps(page: Any) -> None:
        panel = open_panel(page, lab, "imagine-data-panel")
        # refused at once (400): plain http to a host that is not loopback
        fill_webdav(page, panel, "far", "http://dav.example.org/", "x")
        alert = page.locator("#imagine-mount-form-error")
        alert.get_by_text("must use https://").wait_for(timeout=10_000)
        # accepted, then failing while mounting: the server's reason, secrets removed, shown
        # once (on the mount's entry), the form pointing at it
        panel.get_by_label("Folder name").fill("wrong")
        panel.get_by_label("WebDAV address").fill(webdav.url)
        panel.get_by_label("Password", exact=True).fill("not-the-password")
        panel.get_by_role("button", name="Mount", exact=True).click()
        alert.get_by_text("wrong could not be mounted: see its entry above").wait_for(
            timeout=45_000
        )
        server = lab.api("GET", "mounts/wrong").json()
        assert server["state"] in ("error", "unhealthy"), server
        head = server["message"][:40]
        assert head and head in panel.locator("li[data-mount='wrong']").inner_text()
        assert panel.inner_text().count(head) == 1
        assert "remount" not in panel.inner_text()
        assert "not-the-password" not in page.content()
        shot(page, "data-panel-error")

    in_browser(steps, timeout_ms=60_000)


def test_software_panel_use_puts_a_kernel_in_the_launcher(lab: Lab) -> None:
    def steps(page: Any) -> None:
        panel = open_panel(page, lab, "imagine-software-panel")
        stack = panel.locator(f"li[data-stack='{cvmfs_tree.EESSI_STACK}']")
        stack.wait_for(timeout=20_000)
        assert "missing" in panel.locator("#imagine-software-repos").inner_text()
        stack.get_by_role("button", name="Show the modules of software.eessi.io 2023.06").click()
        panel.get_by_label("SciPy-bundle/2023.07-gfbf").wait_for()
        panel.get_by_label("Search software").fill("scipy")
        modules = panel.locator("#imagine-software-modules")
        page.wait_for_function(
            "() => document.querySelectorAll('#imagine-software-modules input').length === 1"
        )
        modules.get_by_label("SciPy-bundle/2023.07-gfbf").check()
        panel.get_by_label("Search software").fill("")
        shot(page, "software-panel")
        stack.get_by_role("button", name="Use software.eessi.io 2023.06 in a new kernel").click()
        panel.get_by_text("is now in the launcher").wait_for(timeout=20_000)
        kernels = lab.api("GET", "software/kernels").json()["kernels"]
        assert [k["modules"] for k in kernels] == [["SciPy-bundle/2023.07-gfbf"]]
        name = kernels[0]["display_name"]
        # the launcher lists it without a reload
        page.locator(".jp-LauncherCard", has_text=name).first.wait_for(timeout=20_000)
        shot(page, "software-panel-launcher")

        # an image without Apptainer: the server's 501 message
        panel.locator("#imagine-software-images").get_by_role(
            "button", name="Open folder unpacked.cern.ch").click()
        panel.get_by_role("button", name="Open folder images").click()
        panel.get_by_role("button", name="Use image tool.sif in a new kernel").click()
        page.locator("#imagine-software-error").get_by_text("Apptainer").wait_for()

    in_browser(steps, timeout_ms=60_000)
