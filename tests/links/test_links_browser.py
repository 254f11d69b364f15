"""A logged-out scientist follows launch links in a real browser (Debian chromium) against the
demo stack: the development OpenID provider, a real JupyterHub with configurable-http-proxy,
local servers with nbgitpuller, and a real git server on loopback. NVML is the FAKE module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from jupyterhub_imagine.demo.stack import DemoStack
from tests.support.browser import in_browser, provider_form_login, screenshot
from tests.support.hub import demo_hub

from .gitserver import GitServer, git_server

pytestmark = [pytest.mark.e2e, pytest.mark.fake]
GPU = "gpu-nvidia-a100-sxm4-40gb"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with git_server(tmp_path_factory.mktemp("git")) as server:
        yield server


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with demo_hub(tmp_path_factory.mktemp("links")) as stack:
        yield stack


def shot(page: Any, name: str) -> None:
    screenshot(page, "links", name)


def test_logged_out_binder_link_logs_in_confirms_and_opens_the_pulled_file(
    hub: DemoStack, repo: GitServer
) -> None:
    home = Path(hub.settings.state_dir) / "home" / "alice" / "sample"
    binder = (f"{hub.url}/hub/imagine/v2/git/{quote(repo.url, safe='')}/main?"
              + urlencode({"labpath": "analysis.ipynb", "profile": GPU}))

    def steps(page: Any) -> None:
        page.goto(binder)
        assert "/hub/login" in page.url
        provider_form_login(page, "alice")
        page.wait_for_selector("#imagine-link-confirm")
        text = page.inner_text("#imagine-link-confirm")
        assert "NVIDIA A100-SXM4-40GB" in text and repo.url in text
        assert "lab/tree/sample/analysis.ipynb" in text
        shot(page, "confirm-binder-link")
        page.click("#link-start")
        page.wait_for_url("**/user/alice/lab/tree/sample/analysis.ipynb**", timeout=180_000)
        heading = page.locator(".jp-RenderedMarkdown h1", has_text="Sample analysis")
        heading.first.wait_for(timeout=120_000)
        shot(page, "landing-notebook-open")
        assert (home / "analysis.ipynb").exists()

        # Sharing the pulled notebook gives a launch link to the same commit and file, which
        # the hub accepts: its confirmation page names that commit.
        # (the sample notebook names no kernel, so Lab asks first)
        page.click(".jp-Dialog button:has-text('No Kernel')")
        page.click("#imagine-share-button")
        page.wait_for_selector("#imagine-share-badge")
        link = page.input_value("#imagine-share-link")
        assert link.startswith(f"{hub.url}/hub/imagine/launch?")
        assert parse_qs(urlsplit(link).query) == {
            "profile": [GPU], "repo": [repo.url], "ref": [repo.first],
            "urlpath": ["lab/tree/sample/analysis.ipynb"],
        }
        assert "Open on the hub" in page.input_value("#imagine-share-badge")
        shot(page, "share-dialog")
        page.keyboard.press("Escape")
        page.goto(link)
        page.wait_for_selector("#link-reuse")
        assert repo.first[:12] in page.inner_text("#imagine-link-confirm")

        # The scientist adds a file; upstream gets a new commit; the second visit (our own
        # shape) reuses the running server and pulls again, keeping the scientist's file.
        (home / "my-notes.md").write_text("mine\n")
        second = repo.push("second.md", "# Second\n")
        link = f"{hub.url}/hub/imagine/launch?" + urlencode(
            {"profile": GPU, "repo": repo.url, "labpath": "second.md"})
        page.goto(link)
        page.wait_for_selector("#link-reuse")
        assert second[:12] in page.inner_text("#imagine-link-confirm")
        shot(page, "confirm-running-server")
        page.click("#link-reuse")
        page.wait_for_url("**/user/alice/lab/tree/sample/second.md**", timeout=120_000)
        assert (home / "second.md").exists() and (home / "my-notes.md").read_text() == "mine\n"

        # A link to another profile asks before it restarts anything.
        page.goto(f"{hub.url}/hub/imagine/launch?" + urlencode({"profile": "cpu"}))
        page.wait_for_selector("#link-other-profile")
        shot(page, "confirm-other-profile")
        page.goto(f"{hub.url}/hub/home")
        page.click("#stop")
        page.wait_for_selector("#start", state="visible", timeout=60_000)

    in_browser(steps, timeout_ms=60_000)


def test_the_demo_serves_its_sample_repository_for_the_readme_link(hub: DemoStack) -> None:
    import subprocess
    import time

    import requests

    url = f"http://127.0.0.1:{hub.settings.port + 3}/sample.git"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the hub starts its services after it answers
        try:
            if requests.get(f"{url}/info/refs?service=git-upload-pack", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    out = subprocess.run(["git", "ls-remote", url], capture_output=True, text=True, check=True)
    assert "refs/heads/main" in out.stdout and "refs/tags/v1" in out.stdout
    # the README's link, as a logged-in user sees it
    link = f"{hub.url}/hub/imagine/launch?" + urlencode(
        {"repo": url, "labpath": "analysis.ipynb"})

    def steps(page: Any) -> None:
        page.goto(link)
        provider_form_login(page, "bob")
        page.wait_for_selector("#imagine-link-confirm")
        assert "lab/tree/sample/analysis.ipynb" in page.inner_text("#imagine-link-confirm")
        # bob may not use GPUs: the GPU link says so and offers the profiles he may use
        page.goto(link + "&" + urlencode({"profile": GPU}))
        page.wait_for_selector("#link-profiles")
        assert "CPU only" in page.inner_text("#link-profiles")
        shot(page, "refused-unentitled-profile")

    in_browser(steps)
