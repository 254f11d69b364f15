"""ImagineLocalSpawner in a real JupyterHub: gating, availability, quota, junk input, and the GPU
record (spawner state in the hub database) across a hub restart.

NVML is the FAKE module (A100s in a JSON file); everything else is real: the hub, the proxy,
and the user servers it starts.
"""

from __future__ import annotations

import html
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.support import fake_nvml
from tests.support.minihub import mini_hub

GPU_SLUG = "gpu-nvidia-a100-sxm4-40gb"

CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 0
c.JupyterHub.load_groups = {{
    "gpu": {{"users": ["alice", "carol", "dan"]}},
    "team": {{"users": ["carol", "dan"]}},
}}
c.JupyterHub.spawner_class = "imagine-local"
c.ImagineLocalSpawner.nvml_module = "tests.support.fake_nvml"
c.ImagineLocalSpawner.home_dir_template = "{state}/home/{{username}}"
c.ImagineLocalSpawner.gpu_quota_per_user = 2
c.ImagineLocalSpawner.gpu_quota_per_group_total = {{"team": 3}}
c.Spawner.consecutive_failure_limit = 3
c.Spawner.environment = {{"IMAGINE_FAKE_NVML": "{nvml}"}}
"""


pytestmark = pytest.mark.fake  # NVML


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("localhub")
    nvml = tmp / "nvml.json"
    fake_nvml.write_state(str(nvml), [fake_nvml.a100(f"GPU-{i}") for i in range(4)])
    config = CONFIG.format(state=tmp / "state", nvml=nvml)
    with mini_hub(tmp, config, env={"IMAGINE_FAKE_NVML": str(nvml)}) as h:
        yield h


def _form(session, url):
    """The spawn page and its form's action URL (which carries the XSRF token)."""
    page = session.get(url, timeout=30)
    match = re.search(r'id="spawn_form"\s+action="([^"]+)"', page.text)
    action = html.unescape(match.group(1)) if match else url
    return page, urljoin(url, action)


def test_form_shows_gpu_profiles_with_availability_only_to_entitled_users(hub):
    page, _ = _form(hub.login("alice"), f"{hub.url}/hub/spawn")
    assert f'value="{GPU_SLUG}"' in page.text
    assert "4 of 4 GPUs free" in page.text
    page, _ = _form(hub.login("bob"), f"{hub.url}/hub/spawn")
    assert 'value="cpu"' in page.text
    assert "A100" not in page.text


def test_crafted_post_for_a_forbidden_profile_gets_400(hub):
    bob = hub.login("bob")
    _, action = _form(bob, f"{hub.url}/hub/spawn")
    r = bob.post(action, data={"profile": GPU_SLUG}, timeout=30)
    assert r.status_code == 400
    assert "needs gpu" in r.text
    r = hub.api("POST", "/users/bob/server", json={"profile": GPU_SLUG})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "data",
    [
        {"profile": "no-such-profile"},
        {"profile": "cpu", "profile-option-cpu--image": "x"},
        {"profile": "../../etc"},
    ],
)
def test_junk_form_posts_get_400_and_the_hub_stays_up(hub, data):
    bob = hub.login("bob")
    for _ in range(4):  # more than consecutive_failure_limit
        _, action = _form(bob, f"{hub.url}/hub/spawn")
        r = bob.post(action, data=data, timeout=30)
        assert r.status_code == 400, r.text[:500]
    r = hub.api("POST", "/users/bob/server", json={"profile": "nope", "junk": [1]})
    assert r.status_code == 400
    assert hub.alive()


def test_concurrent_spawns_never_exceed_the_gpu_quota(hub):
    def spawn(i: int):
        return hub.api("POST", f"/users/alice/servers/s{i}", json={"profile": GPU_SLUG})

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(spawn, range(20)))
    codes = [r.status_code for r in results]
    assert codes.count(403) >= 18, codes
    held = [d for state in _held(hub).values() for d in state["imagine_devices"]]
    assert len(held) <= 2 and len(set(held)) == len(held)
    assert any("at most 2 GPU" in r.text for r in results if r.status_code == 403)
    for i in range(20):
        hub.api("DELETE", f"/users/alice/servers/s{i}")
    assert hub.alive()


def _held(hub) -> dict[str, dict]:
    """``user/server`` -> spawner state, for servers whose state records GPUs (the one record)."""
    users = hub.api("GET", "/users").json()
    servers = {f"{u['name']}/{name}": s for u in users for name, s in u["servers"].items()}
    return {k: s["state"] for k, s in servers.items() if s["state"].get("imagine_devices")}


def _wait_no_gpu_held(hub) -> None:
    for _ in range(240):
        if not _held(hub):
            return
        time.sleep(0.25)
    raise AssertionError(f"GPUs still held: {_held(hub)}")


def test_group_total_caps_what_members_hold_together(hub):
    _wait_no_gpu_held(hub)  # earlier tests' servers are gone
    gpu = {"profile": GPU_SLUG}
    for user, server in [("carol", "c1"), ("carol", "c2"), ("dan", "d1")]:
        r = hub.api("POST", f"/users/{user}/servers/{server}", json=gpu)
        assert r.status_code in (201, 202), r.text
    # dan is under his own cap (2) but the team holds its 3 together; a GPU is still free
    r = hub.api("POST", "/users/dan/servers/d2", json=gpu)
    assert r.status_code == 403, r.text
    assert "Members of team may use at most 3 GPU(s) together and 3 are in use" in r.text
    assert len(_held(hub)) == 3
    hub.api("DELETE", "/users/carol/servers/c1")
    _wait_stopped(hub, "carol", "c1")
    r = hub.api("POST", "/users/dan/servers/d2", json=gpu)
    assert r.status_code in (201, 202), r.text
    held = _held(hub)
    assert held["dan/d2"]["imagine_groups"] == ["gpu", "team"]
    assert held["dan/d2"]["imagine_gpus"] == 1 and len(held["dan/d2"]["imagine_devices"]) == 1
    for user, server in [("carol", "c2"), ("dan", "d1"), ("dan", "d2")]:
        hub.api("DELETE", f"/users/{user}/servers/{server}")
    _wait_no_gpu_held(hub)
    assert hub.alive()


def _wait_stopped(hub, user: str, server: str = "") -> None:
    for _ in range(120):
        servers = hub.api("GET", f"/users/{user}").json().get("servers", {})
        if server not in servers:
            return
        time.sleep(0.25)
    raise AssertionError(f"{user}/{server} did not stop")


def test_launch_link_starts_the_profile_it_names(hub):
    bob = hub.login("bob")
    r = bob.get(f"{hub.url}/hub/spawn?opt-profile=cpu", timeout=60)
    assert r.status_code == 200, r.text[:500]
    model = hub.api("GET", "/users/bob").json()
    assert model["servers"][""]["user_options"] == {"profile": "cpu"}
    hub.api("DELETE", "/users/bob/server")
    _wait_stopped(hub, "bob")


def test_launch_link_for_a_forbidden_profile_is_refused(hub):
    bob = hub.login("bob")
    r = bob.get(f"{hub.url}/hub/spawn?opt-profile={GPU_SLUG}", timeout=60)
    assert r.status_code == 400
    assert "needs gpu" in html.unescape(r.text)
    assert 'value="cpu"' in r.text  # the form is offered instead
    assert "" not in hub.api("GET", "/users/bob").json().get("servers", {})
    assert hub.alive()


def test_refusals_through_the_api_never_count_as_hub_failures(hub):
    """More refusals than `consecutive_failure_limit` (3): the hub neither counts nor exits.

    JupyterHub 5.x counts every failed spawn and exits at the limit; 6.x counts errors only.
    Each refusal's message reaches the client as it is, not as the exception's text.
    """
    refusals = [
        ("bob", {"profile": GPU_SLUG}, 400, "needs gpu"),  # entitlement
        ("bob", {"profile": "no-such-profile"}, 400, "no-such-profile"),  # bad options
        ("bob", {"profile": "cpu", "junk": [1]}, 400, "junk"),
    ] * 3
    for user, options, status, text in refusals:
        r = hub.api("POST", f"/users/{user}/server", json=options)
        assert r.status_code == status, r.text
        message = r.json()["message"]
        assert text in message and "SpawnRefused" not in message and "HTTP " not in message
    log = hub.log.read_text(errors="replace")
    assert "consecutive spawn" not in log and "Aborting" not in log
    assert hub.alive()
    r = hub.api("POST", "/users/bob/server", json={"profile": "cpu"})
    assert r.status_code in (201, 202), r.text
    hub.api("DELETE", "/users/bob/server")
    _wait_stopped(hub, "bob")


RESTART_CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.cleanup_servers = False
c.JupyterHub.load_groups = {{"gpu": {{"users": ["alice", "bob", "carol"]}}}}
c.JupyterHub.spawner_class = "imagine-local"
c.ImagineLocalSpawner.nvml_module = "tests.support.fake_nvml"
c.ImagineLocalSpawner.home_dir_template = "{state}/home/{{username}}"
c.ImagineLocalSpawner.gpu_quota_per_user = 1
c.Spawner.environment = {{"IMAGINE_FAKE_NVML": "{nvml}"}}
"""


def _spawn_ready(hub, path: str) -> dict:
    """Start a GPU server through the REST API and wait until the hub calls it ready."""
    r = hub.api("POST", f"/users/{path}", json={"profile": GPU_SLUG})
    assert r.status_code in (201, 202), r.text
    user, _, server = path.removesuffix("/server").partition("/servers/")
    for _ in range(240):
        model = hub.api("GET", f"/users/{user}").json()["servers"].get(server, {})
        if model.get("ready"):
            return model["state"]
        time.sleep(0.25)
    raise AssertionError(f"{path} never became ready")


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_gpus_held_before_a_hub_restart_stay_held_after_it(tmp_path):
    """The hub database is the only record: a second hub on it knows what the first handed out."""
    nvml = tmp_path / "nvml.json"
    fake_nvml.write_state(str(nvml), [fake_nvml.a100(f"GPU-{i}") for i in range(2)])
    config = RESTART_CONFIG.format(state=tmp_path / "state", nvml=nvml)
    env = {"IMAGINE_FAKE_NVML": str(nvml)}
    pids: list[int] = []
    try:
        with mini_hub(tmp_path, config, env=env) as first:
            state = _spawn_ready(first, "alice/server")
            pids.append(state["pid"])
            assert first.proc is not None
            first.proc.terminate()  # the hub alone: cleanup_servers is off
            first.wait_exit(60)
        assert _pid_alive(state["pid"]), "alice's server did not outlive the hub"
        assert not list((tmp_path / "hub").glob("*.json")), "a side file records GPUs"
        with mini_hub(tmp_path, config, env=env) as second:
            assert _held(second)["alice/"]["imagine_devices"] == state["imagine_devices"]
            page, _ = _form(second.login("carol"), f"{second.url}/hub/spawn")
            assert "1 of 2 GPUs free" in page.text
            bob = _spawn_ready(second, "bob/server")
            pids.append(bob["pid"])
            assert bob["imagine_devices"] != state["imagine_devices"]
            r = second.api("POST", "/users/carol/server", json={"profile": GPU_SLUG})
            assert r.status_code == 409, r.text  # both GPUs held, one since the first hub
            r = second.api("POST", "/users/alice/servers/more", json={"profile": GPU_SLUG})
            assert r.status_code == 403, r.text  # alice's quota counts her earlier server
            second.api("DELETE", "/users/alice/server")
            _wait_stopped(second, "alice")
            assert not _pid_alive(state["pid"])
            carol = _spawn_ready(second, "carol/server")
            pids.append(carol["pid"])
            assert carol["imagine_devices"] == state["imagine_devices"]
            for user in ("bob", "carol"):
                second.api("DELETE", f"/users/{user}/server")
                _wait_stopped(second, user)
            assert not _held(second)
    finally:
        for pid in pids:  # servers of the first hub are no longer the test hub's children
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
