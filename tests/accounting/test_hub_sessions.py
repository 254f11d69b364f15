"""Sessions through a real JupyterHub (local backend, wired with the accounting hooks through
config only) produce records whose times match what the test did, in SQLite and PostgreSQL;
the culler's GPU-seconds and stop reason reach them at sync time.

NVML is the FAKE module (two A100s in a JSON file); the hub, proxy and servers are real. The
culler's per-server rows are written through the culler's own store (CullerStore), as its
cycle does after measuring; its measuring is tested in tests/culler.
"""

from __future__ import annotations

import time

import pytest

from jupyterhub_imagine.accounting import identity
from jupyterhub_imagine.accounting.cli import run
from jupyterhub_imagine.accounting.store import AccountingStore
from jupyterhub_imagine.culler.store import CullerStore, ServerKey, ServerRecord
from tests.support import fake_nvml
from tests.support.minihub import mini_hub

pytestmark = [pytest.mark.timeout(240), pytest.mark.fake]

GPU_SLUG = "gpu-nvidia-a100-sxm4-40gb"
KEY = "accounting-test-key-0123456789"

CONFIG = """
c.ImagineAccounting.db_url = {db_url!r}
c.ImagineAccounting.pseudonym_key = {key!r}
from jupyterhub_imagine.accounting.hooks import wire_accounting
wire_accounting(c)
c.AccountingRecorder.ready_poll_seconds = 0.2
c.ImagineAccounting.energy_nvml_module = "tests.accounting.fake_energy_nvml"
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.load_groups = {{"gpu": {{"users": ["alice"]}}}}
c.JupyterHub.spawner_class = "imagine-local"
c.ImagineLocalSpawner.nvml_module = "tests.support.fake_nvml"
c.ImagineLocalSpawner.home_dir_template = "{state}/home/{{username}}"
c.Spawner.environment = {{"IMAGINE_FAKE_NVML": "{nvml}"}}
"""


def _server(hub, user: str, name: str) -> dict:
    return hub.api("GET", f"/users/{user}").json().get("servers", {}).get(name, {})


def _wait(hub, user: str, name: str, ready: bool) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        server = _server(hub, user, name)
        if (bool(server.get("ready")) if ready else not server):
            return
        time.sleep(0.2)
    raise AssertionError(f"{user}/{name} did not become {'ready' if ready else 'stopped'}")


def _run_session(hub, user: str, name: str, options: dict, hold: float,
                 while_running=None) -> tuple[float, float, str]:
    path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
    t0 = time.time()
    r = hub.api("POST", path, json=options)
    assert r.status_code in (201, 202), r.text
    _wait(hub, user, name, ready=True)
    started = _server(hub, user, name)["started"]
    if while_running:
        while_running()
    time.sleep(hold)  # the session's length is what is measured, not a wait for an event
    assert hub.api("DELETE", path).status_code in (202, 204)
    _wait(hub, user, name, ready=False)
    return t0, time.time(), started


def _gpus(energy_mj: list[int]) -> list[dict]:
    return [dict(fake_nvml.a100(f"GPU-{i}"), energy_mj=e) for i, e in enumerate(energy_mj)]


def _wait_recorded_ready(db_url: str) -> None:
    """Until the hub's recorder noted the server ready (and read the energy counters)."""
    store = AccountingStore(db_url)
    try:
        deadline = time.monotonic() + 30
        while not [r for r in store.rows() if r["ready_ts"] is not None]:
            assert time.monotonic() < deadline, store.rows()
            time.sleep(0.1)
    finally:
        store.close()


def test_records_match_what_the_sessions_did(db_url, tmp_path):
    nvml = tmp_path / "nvml.json"
    fake_nvml.write_state(str(nvml), _gpus([1_000_000, 5_000_000]))
    config = CONFIG.format(db_url=db_url, key=KEY, state=tmp_path / "state", nvml=nvml)

    def spend_energy() -> None:  # the GPUs draw 600 J and 900 J while the session runs
        _wait_recorded_ready(db_url)
        fake_nvml.write_state(str(nvml), _gpus([1_600_000, 5_900_000]))

    with mini_hub(tmp_path, config, env={"IMAGINE_FAKE_NVML": str(nvml)}) as hub:
        gpu = _run_session(hub, "alice", "", {"profile": GPU_SLUG}, hold=6,
                           while_running=spend_energy)
        cpu = _run_session(hub, "alice", "notes", {"profile": "cpu"}, hold=2)
        assert hub.api("POST", "/users/bob").status_code == 201
        refused = hub.api("POST", "/users/bob/server", json={"profile": GPU_SLUG})
        assert refused.status_code == 400
        _wait(hub, "bob", "", ready=False)
        hub_log = hub.log.read_text()
    assert "Error in Spawner" not in hub_log

    store = AccountingStore(db_url)
    rows = store.rows()
    assert len(rows) == 3, rows
    g, c, b = rows
    k = KEY.encode()
    assert g["user_key"] == c["user_key"] == identity.pseudonym(k, "alice") != b["user_key"]
    assert g["server_key"] == identity.server_pseudonym(k, "alice", "")
    assert c["server_key"] == identity.server_pseudonym(k, "alice", "notes")
    for row in rows:
        assert not any(isinstance(v, str) and ("alice" in v or "bob" in v or "notes" in v)
                       for v in row.values()), row
    # the GPU session: its times bracket what the test did, within a few seconds
    t0, t1, started = gpu
    assert g["hub_started"] == started
    assert t0 - 1 <= g["start_ts"] <= g["ready_ts"] <= g["stop_ts"] <= t1 + 1
    assert abs((g["stop_ts"] - g["start_ts"]) - (t1 - t0)) < 5
    assert (g["profile"], g["gpus"], g["gpu_type"], g["mig"]) == (
        GPU_SLUG, 1.0, "NVIDIA A100-SXM4-40GB", "")
    assert (g["community"], g["country"], g["stop_reason"]) == ("gpu", "unknown", "user")
    assert g["energy_j"] in (600.0, 900.0)  # the one GPU alice held, not both
    assert c["energy_j"] is None  # no GPU: energy unknown, not zero
    assert c["profile"] == "cpu" and c["gpus"] == 0 and c["cpus"] == 1.0
    assert abs((c["stop_ts"] - c["start_ts"]) - (cpu[1] - cpu[0])) < 5
    # bob may not use the GPU profile: the refused start is a failure, not a session of use
    assert b["stop_reason"] == "failure" and b["ready_ts"] is None

    # what the culler measured for the GPU server, then the report syncs it in
    culler_url = f"sqlite:///{tmp_path}/culler.sqlite"
    culler = CullerStore(culler_url)
    key = ServerKey("alice", "", started)
    culler.save([ServerRecord(key=key, holds_gpu=True, gpus=1, active_s=4.0, idle_s=1.5,
                              unknown_s=0.5)], known=set())
    culler.record_events([(t1, key, "stop", "GPU idle for 2 h")])
    culler.close()
    day = time.strftime("%Y-%m-%d", time.gmtime(t0))
    # the report reads the hub's own config file (db_url, pseudonym key)
    hub_config = str(tmp_path / "hub" / "jupyterhub_config.py")
    text = run(["report", "-f", hub_config, "--culler-db-url", culler_url, "--from", day,
                "--to", day, "--format", "json"])
    g = store.rows()[0]
    assert (g["gpu_active_s"], g["gpu_idle_s"], g["gpu_unknown_s"]) == (4.0, 1.5, 0.5)
    assert (g["stop_reason"], g["stop_detail"]) == ("culler", "culler: GPU idle for 2 h")
    assert '"gpu_hours_active": 0.00111' in text  # 4 s
    store.close()
