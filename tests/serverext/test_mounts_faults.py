"""Mounts under faults, with real processes: jupyter-server in a subprocess, `rclone serve
webdav` on loopback, rclone mounts over FUSE. Nothing written may be lost silently, and nothing
may be left running or mounted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.serverext.server_proc import Server, running_server, start_server, stop_server
from tests.serverext.webdav_support import (
    WebDAVServer,
    all_pids,
    mounts_under,
    needs_fuse,
    process_alive,
    rclone_mounts,
    unmount_leftovers,
)

pytestmark = [needs_fuse, pytest.mark.fake]
PASSWORD = "fault-pw-" + "7" * 12
HUB_TOKEN = "hub-api-token-must-not-reach-rclone"
RCLONE_ARGS = [
    "--vfs-cache-mode",
    "writes",
    "--vfs-write-back",
    "0s",
    "--dir-cache-time",
    "30s",
    "--contimeout",
    "2s",
    "--low-level-retries",
    "1",
]


def _until(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    """Poll ``check`` until it returns something true (a readiness wait, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _state(server: Server, name: str) -> str:
    response = server.api("GET", f"mounts/{name}")
    return str(response.json().get("state")) if response.ok else f"http-{response.status_code}"


def _mount(server: Server, name: str, url: str) -> None:
    body = {"name": name, "backend": "webdav", "url": url, "user": "alice", "password": PASSWORD}
    response = server.api("POST", "mounts", data=json.dumps(body))
    assert response.status_code == 202, response.text
    _until(lambda: _state(server, name) == "mounted", f"{name} mounted")


def _config(tmp: Path, **mounts: Any) -> dict[str, Any]:
    return {
        "ImagineServerExtension": {"insecure_http_hosts": ["127.0.0.1"]},
        "ImagineMountManager": {
            "root": str(tmp / "home" / "data"),
            "cache_root": str(tmp / "cache"),
            "rclone_mount_args": RCLONE_ARGS,
            "flush_timeout": 2.0,
            **mounts,
        },
    }


@pytest.fixture
def webdav(tmp_path: Path) -> Iterator[WebDAVServer]:
    remote = tmp_path / "webdav-remote"
    remote.mkdir()
    server = WebDAVServer(remote, "alice", PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, WebDAVServer]]:
    tmp = tmp_path_factory.mktemp("faults")
    remote = tmp / "webdav-remote"
    remote.mkdir()
    webdav = WebDAVServer(remote, "alice", PASSWORD)
    webdav.start()
    try:
        with running_server(tmp, _config(tmp)) as server:
            yield server, webdav
    finally:
        webdav.stop()
        unmount_leftovers(tmp / "home" / "data")


def test_ten_concurrent_deletes_answer_one_204_and_nine_404(
    shared: tuple[Server, WebDAVServer],
) -> None:
    server, webdav = shared
    _mount(server, "race", webdav.url)
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: server.api("DELETE", "mounts/race"), range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [204] + [404] * 9
    for r in responses:
        if r.status_code == 404:
            assert "race" in r.json()["message"]
    data = server.home / "data"
    assert mounts_under(data) == [] and not (data / "race").exists()
    _until(lambda: not rclone_mounts(server.children()), "no rclone left", 10)


def test_remount_racing_delete_leaves_nothing_behind(shared: tuple[Server, WebDAVServer]) -> None:
    server, webdav = shared
    data = server.home / "data"
    for attempt in range(3):
        name = f"racing{attempt}"
        _mount(server, name, webdav.url)
        body = json.dumps({"password": PASSWORD})
        with ThreadPoolExecutor(2) as pool:
            remount = pool.submit(server.api, "POST", f"mounts/{name}/remount", data=body)
            delete = pool.submit(server.api, "DELETE", f"mounts/{name}")
            codes = (remount.result().status_code, delete.result().status_code)
        assert delete.result().status_code == 204, codes
        assert remount.result().status_code in (202, 404), codes
        assert server.api("GET", f"mounts/{name}").status_code == 404
        assert mounts_under(data) == []
        _until(lambda: not rclone_mounts(server.children()), "no rclone left", 10)


def test_a_swapped_mount_point_is_refused_and_the_mount_kept(
    shared: tuple[Server, WebDAVServer], tmp_path: Path
) -> None:
    server, webdav = shared
    _mount(server, "swap", webdav.url)
    assert server.api("POST", "mounts/swap/unmount").status_code == 200
    point = server.home / "data" / "swap"
    point.rmdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    point.symlink_to(elsewhere)
    refused = server.api("DELETE", "mounts/swap")
    assert refused.status_code == 409 and "symbolic link" in refused.json()["message"]
    assert server.api("GET", "mounts/swap").json()["state"] == "unmounted"
    point.unlink()
    assert server.api("DELETE", "mounts/swap").status_code == 204
    assert elsewhere.exists()


def _fail(webdav: WebDAVServer, how: str) -> None:
    assert webdav.proc is not None
    if how == "killed":
        webdav.stop()
    else:
        webdav.proc.send_signal(signal.SIGSTOP)  # frozen: connections hang, nothing answers


def _recover(webdav: WebDAVServer, how: str) -> None:
    if how == "killed":
        if webdav.proc is None:
            webdav.start()
    elif webdav.proc is not None:
        webdav.proc.send_signal(signal.SIGCONT)


@pytest.mark.parametrize("how", ["killed", "frozen"])
def test_writes_while_the_storage_is_down_are_not_lost(
    shared: tuple[Server, WebDAVServer], how: str
) -> None:
    server, webdav = shared
    _mount(server, "dav", webdav.url)
    point = server.home / "data" / "dav"
    _fail(webdav, how)  # the mount keeps answering from its cache
    try:
        _write_refuse_force_remount(server, webdav, point, how)
    finally:
        _recover(webdav, how)


def _write_refuse_force_remount(
    server: Server, webdav: WebDAVServer, point: Path, how: str
) -> None:
    with open(point / "result.txt", "w") as f:
        f.write("written while the storage was down\n")
        f.flush()
        os.fsync(f.fileno())

    refused = server.api("POST", "mounts/dav/unmount")
    assert refused.status_code == 409, refused.text
    answer = refused.json()
    assert answer["reason"] == "pending-writes" and answer["pending_uploads"] == ["result.txt"]
    assert "result.txt" in answer["message"] and "force" in answer["message"]
    assert _state(server, "dav") == "mounted" or _state(server, "dav") == "unhealthy"

    forced = server.api("POST", "mounts/dav/unmount", params={"force": "true"})
    assert forced.status_code == 200
    assert forced.json()["pending_uploads"] == ["result.txt"]
    assert "upload when it is mounted again" in forced.json()["message"]
    assert mounts_under(server.home / "data") == []

    # the storage comes back; the mount is made again: the write arrives
    _recover(webdav, how)
    remount = server.api("POST", "mounts/dav/remount", data=json.dumps({"password": PASSWORD}))
    assert remount.status_code == 202
    arrived = webdav.directory / "result.txt"
    _until(arrived.exists, "the pending write to reach the storage")
    _until(lambda: arrived.read_text() == "written while the storage was down\n", "its content")

    # nothing pending any more: unmount and delete go through without force
    _until(lambda: server.api("POST", "mounts/dav/unmount").status_code == 200, "unmount")
    assert server.api("DELETE", "mounts/dav").status_code == 204


def test_delete_with_pending_writes_names_what_force_discards(
    shared: tuple[Server, WebDAVServer],
) -> None:
    server, webdav = shared
    _mount(server, "gone", webdav.url)
    webdav.stop()
    try:
        (server.home / "data" / "gone" / "lost.txt").write_text("x\n")
        refused = server.api("DELETE", "mounts/gone")
        assert refused.status_code == 409 and refused.json()["pending_uploads"] == ["lost.txt"]
        assert "discard" in refused.json()["message"]
        forced = server.api("DELETE", "mounts/gone", params={"force": "true"})
        assert forced.status_code == 200 and forced.json()["discarded"] == ["lost.txt"]
        assert server.api("GET", "mounts/gone").status_code == 404
    finally:
        webdav.start()


def _stray_mount(tmp: Path, webdav: WebDAVServer, point: Path) -> subprocess.Popen[bytes]:
    """An rclone mount started by the test itself, as a killed server would have left it."""
    obscured = subprocess.run(
        ["rclone", "obscure", "-"], input=PASSWORD.encode(), capture_output=True, check=True
    ).stdout.decode()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "RCLONE_CONFIG_ORPHAN_TYPE": "webdav",
        "RCLONE_CONFIG_ORPHAN_URL": webdav.url,
        "RCLONE_CONFIG_ORPHAN_USER": "alice",
        "RCLONE_CONFIG_ORPHAN_PASS": obscured.strip(),
    }
    point.mkdir()
    return subprocess.Popen(
        ["rclone", "mount", "orphan:", str(point)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _environ(pid: int) -> bytes:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


def test_a_killed_server_leaves_no_rclone_and_the_next_one_detaches_orphans(
    tmp_path: Path, webdav: WebDAVServer
) -> None:
    data = tmp_path / "home" / "data"
    env = {"JUPYTERHUB_API_TOKEN": HUB_TOKEN, "JUPYTERHUB_USER": "alice"}
    orphan: subprocess.Popen[bytes] | None = None
    server = start_server(tmp_path, _config(tmp_path), env=env)
    try:
        _mount(server, "one", webdav.url)
        (pid,) = rclone_mounts(server.children())
        environ = _environ(pid)
        assert HUB_TOKEN.encode() not in environ and b"JUPYTERHUB" not in environ
        assert PASSWORD.encode() not in environ and b"RCLONE_CONFIG_" not in environ

        # SIGKILL: the server cannot clean up; its rclone still ends and unmounts
        stop_server(server, sig=signal.SIGKILL)
        _until(lambda: not process_alive(pid), "rclone to end with its server")
        # rclone unmounts on its way out; should that fail, a dead mount point is left with no
        # process behind it, and the next server detaches it (checked below)
        assert not rclone_mounts(all_pids(), under=data)

        # a mount program left running by something else: the next server detaches it
        orphan = _stray_mount(tmp_path, webdav, data / "stray")
        _until(lambda: os.path.ismount(data / "stray"), "the stray mount")

        server = start_server(tmp_path, _config(tmp_path), env=env)
        assert mounts_under(data) == []
        assert "left by an earlier server" in server.log.read_text()
        orphan.wait(15)  # rclone ends once its mount is detached
        # the saved definition came back without its password
        assert _state(server, "one") == "credentials-required"

        # SIGTERM (how the hub stops a server): unmounts on the way out
        remount = server.api("POST", "mounts/one/remount", data=json.dumps({"password": PASSWORD}))
        assert remount.status_code == 202
        _until(lambda: _state(server, "one") == "mounted", "one remounted")
        (pid,) = rclone_mounts(server.children())
        stop_server(server)
        assert server.proc.returncode == 0 and not process_alive(pid)
        assert mounts_under(data) == []
    finally:
        stop_server(server, sig=signal.SIGKILL)
        if orphan is not None and orphan.poll() is None:
            orphan.kill()
            orphan.wait(10)
        unmount_leftovers(data)
