"""Launch links through a real JupyterHub (with configurable-http-proxy and local servers) and a
real git server on loopback. NVML is the FAKE module (two A100s in a JSON file)."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.support import fake_nvml
from tests.support.minihub import mini_hub

from .gitserver import git_server

pytestmark = pytest.mark.fake

GPU = "gpu-nvidia-a100-sxm4-40gb"

CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.load_groups = {{"gpu": {{"users": ["alice", "carol"]}}}}
c.JupyterHub.allow_named_servers = True
c.ImagineLocalSpawner.gpu_quota_per_user = 1
c.JupyterHub.spawner_class = "imagine-local"
c.ImagineLocalSpawner.nvml_module = "tests.support.fake_nvml"
c.ImagineLocalSpawner.home_dir_template = "{state}/home/{{username}}"
c.Spawner.environment = {{"IMAGINE_FAKE_NVML": "{nvml}"}}
c.Spawner.default_url = "/lab"
c.ImagineLinks.http_hosts = ["127.0.0.1"]
from jupyterhub_imagine.links.hubconfig import wire_links
wire_links(c)
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    with git_server(tmp_path_factory.mktemp("git")) as server:
        yield server


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("linkhub")
    nvml = tmp / "nvml.json"
    fake_nvml.write_state(str(nvml), [fake_nvml.a100(f"GPU-{i}") for i in range(2)])
    config = CONFIG.format(state=tmp / "state", nvml=nvml)
    with mini_hub(tmp, config, env={"IMAGINE_FAKE_NVML": str(nvml)}) as h:
        yield h


def launch(hub, **query: str) -> str:
    return f"{hub.url}/hub/imagine/launch?{urlencode(query)}"


def xsrf_of(page: str) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert match, page[:2000]
    return html.unescape(match.group(1))


def server_of(hub, name: str) -> dict:
    return hub.api("GET", f"/users/{name}").json().get("servers", {}).get("", {})


def wait_ready(hub, name: str) -> dict:
    for _ in range(240):
        server = server_of(hub, name)
        if server.get("ready"):
            return server
        time.sleep(0.25)
    raise AssertionError(f"{name}'s server did not become ready: {server_of(hub, name)}")


def stop(hub, name: str) -> None:
    hub.api("DELETE", f"/users/{name}/server")
    for _ in range(240):
        if not server_of(hub, name):
            return
        time.sleep(0.25)
    raise AssertionError(f"{name}'s server did not stop")


def test_logged_out_link_goes_to_login_and_comes_back(hub, repo):
    import requests

    link = launch(hub, repo=repo.url, labpath="analysis.ipynb")
    r = requests.get(link, allow_redirects=False, timeout=30)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert "/hub/login" in location
    assert parse_qs(urlsplit(location).query)["next"][0] == link.removeprefix(hub.url)


def test_confirmed_link_starts_the_profile_and_lands_on_git_pull(hub, repo):
    alice = hub.login("alice")
    link = launch(hub, profile=GPU, repo=repo.url, ref="main", labpath="analysis.ipynb")
    page = alice.get(link, timeout=30)
    assert page.status_code == 200, page.text[:2000]
    assert "NVIDIA A100-SXM4-40GB GPU" in page.text and repo.url in page.text
    assert repo.first[:12] in page.text
    assert not server_of(hub, "alice"), "GET must not start a server"
    r = alice.post(link, data={"_xsrf": xsrf_of(page.text), "action": "start"},
                   allow_redirects=False, timeout=60)
    assert r.status_code == 302, r.text[:2000]
    target = urlsplit(r.headers["Location"])
    assert target.path == "/user/alice/git-pull"
    args = parse_qs(target.query)
    assert args == {"repo": [repo.url], "branch": ["main"], "targetpath": ["sample"],
                    "urlpath": ["lab/tree/sample/analysis.ipynb"]}
    server = wait_ready(hub, "alice")
    assert server["user_options"]["profile"] == GPU
    # nbgitpuller really pulls: its event stream, through the proxy, with alice's session
    api = f"{hub.url}/user/alice/git-pull/api?" + urlencode(
        {"repo": repo.url, "branch": "main", "targetpath": "sample"})
    alice.get(f"{hub.url}/user/alice/git-pull?" + target.query, timeout=60).raise_for_status()
    stream = alice.get(api, timeout=120)
    assert '"phase": "finished"' in stream.text, stream.text[-2000:]
    home = hub.state.parent / "state" / "home" / "alice"
    assert (home / "sample" / "analysis.ipynb").exists()

    # a second visit: same profile, so the running server is reused, and pulled again
    page = alice.get(link, timeout=30)
    assert "Open in my running server" in page.text
    r = alice.post(link, data={"_xsrf": xsrf_of(page.text), "action": "reuse"},
                   allow_redirects=False, timeout=60)
    assert urlsplit(r.headers["Location"]).path == "/user/alice/git-pull"

    # a link to another profile never restarts without asking
    cpu = launch(hub, profile="cpu", repo=repo.url)
    page = alice.get(cpu, timeout=30)
    assert "Restart with" in page.text and "Your server is running with" in page.text
    r = alice.post(cpu, data={"_xsrf": xsrf_of(page.text), "action": "start"},
                   allow_redirects=False, timeout=60)
    assert r.status_code == 409
    assert server_of(hub, "alice")["user_options"]["profile"] == GPU
    # ... and restarts when the user says so
    r = alice.post(cpu, data={"_xsrf": xsrf_of(page.text), "action": "restart"},
                   allow_redirects=False, timeout=60)
    assert r.status_code == 302 and "/user/alice/git-pull" in r.headers["Location"]
    assert wait_ready(hub, "alice")["user_options"]["profile"] == "cpu"
    stop(hub, "alice")


def test_over_quota_link_gets_the_quota_page_and_starts_nothing(hub, repo):
    r = hub.api("POST", "/users/carol/servers/held", json={"profile": GPU})
    assert r.status_code in (201, 202), r.text
    carol = hub.login("carol")
    link = launch(hub, profile=GPU, repo=repo.url)
    page = carol.get(link, timeout=30)
    r = carol.post(link, data={"_xsrf": xsrf_of(page.text), "action": "start"},
                   allow_redirects=False, timeout=60)
    assert r.status_code == 403, r.text[:1500]
    assert "at most 1 GPU" in r.text and "This link cannot be opened" in r.text
    assert not server_of(hub, "carol")
    hub.api("DELETE", "/users/carol/servers/held")
    assert hub.alive()


def test_compose_page_makes_a_link_the_hub_accepts_and_a_badge(hub, repo):
    bob = hub.login("bob")
    page = bob.get(f"{hub.url}/hub/imagine/links", timeout=30)
    assert page.status_code == 200 and 'value="cpu"' in page.text and GPU not in page.text
    r = bob.get(f"{hub.url}/hub/imagine/links?" + urlencode(
        {"profile": "cpu", "repo": repo.url, "labpath": "analysis.ipynb"}), timeout=30)
    link = html.unescape(re.search(r'id="compose-link" readonly value="([^"]+)"', r.text)[1])
    assert link.startswith(f"{hub.url}/hub/imagine/launch?")
    assert f"[![Open on the hub]({hub.url}/hub/static/images/jupyterhub-80.png)]" in r.text
    confirm = bob.get(link, timeout=30)
    assert confirm.status_code == 200 and "lab/tree/sample/analysis.ipynb" in confirm.text
    r = bob.get(f"{hub.url}/hub/imagine/links?repo=file:///etc", timeout=30)
    assert r.status_code == 400 and "file:" in r.text and 'id="compose-link"' not in r.text
    assert not server_of(hub, "bob")
