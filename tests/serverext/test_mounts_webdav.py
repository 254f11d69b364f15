"""Mounts through a real jupyter-server and a real `rclone serve webdav` on loopback, over FUSE."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.serverext.webdav_support import (
    LogCollector,
    command_lines_containing,
    files_containing,
    mounts_under,
    needs_fuse,
    unmount_leftovers,
    webdav_server,
)
from tests.support.wait import await_until

pytestmark = [needs_fuse, pytest.mark.fake]
API = ("jupyterhub-imagine", "api", "mounts")
PASSWORD = "pw-" + secrets.token_hex(12)


@pytest.fixture
def webdav(tmp_path: Path) -> Any:
    yield from webdav_server(tmp_path, PASSWORD)


@pytest.fixture
def logs() -> Any:
    names = ["", "ImagineServerExtension", "ServerApp", "tornado.access", "tornado.general"]
    with LogCollector(names) as collector:
        yield collector


@pytest.fixture
def mount_root(tmp_path: Path) -> Any:
    root = tmp_path / "data"
    yield root
    unmount_leftovers(root)


@pytest.fixture
def jp_server_config(mount_root: Path, tmp_path: Path) -> dict[str, Any]:
    token_file = tmp_path / "access-token"
    token_file.write_text("oidc-" + secrets.token_hex(8))
    token_file.chmod(0o600)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
        "ImagineServerExtension": {
            "nvml_module": "tests.support.fake_nvml",
            "insecure_http_hosts": ["127.0.0.1"],
        },
        "ImagineMountManager": {
            "root": str(mount_root),
            "cache_root": str(tmp_path / "cache"),
            "access_token_file": str(token_file),
            "probe_timeout": 5.0,
            "rclone_mount_args": [
                "--vfs-cache-mode",
                "writes",
                "--vfs-write-back",
                "0s",
                "--dir-cache-time",
                "1s",
                "--contimeout",
                "2s",
                "--low-level-retries",
                "1",
            ],
        },
    }


async def _json(jp_fetch: Any, *parts: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = await jp_fetch(*API, *parts, **kwargs)
    return response.code, json.loads(response.body or b"{}")


async def _wait_state(jp_fetch: Any, name: str, wanted: str, timeout: float = 20) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        _, body = await _json(jp_fetch, name)
        if body["state"] == wanted:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"mount {name} never became {wanted}: {body}")


async def _wait_file(path: Path, timeout: float = 15) -> str:
    for _ in range(int(timeout / 0.1)):
        if path.exists():
            return path.read_text()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} did not appear")


async def test_webdav_mount_lifecycle_and_secrecy(
    jp_fetch: Any, jp_serverapp: Any, webdav: Any, mount_root: Path, tmp_path: Path, logs: Any
) -> None:
    body = {
        "name": "work",
        "backend": "webdav",
        "preset": "webdav",
        "url": webdav.url,
        "user": "alice",
        "password": PASSWORD,
    }
    code, created = await _json(jp_fetch, method="POST", body=json.dumps(body))
    assert code == 202 and created["state"] == "mounting"
    assert "password" not in created
    await _wait_state(jp_fetch, "work", "mounted")
    mountpoint = mount_root / "work"
    assert os.path.ismount(mountpoint)

    # a file written through the mount reaches the WebDAV side
    await asyncio.to_thread((mountpoint / "result.txt").write_text, "42\n")
    assert await _wait_file(webdav.directory / "result.txt") == "42\n"

    # the secret is in no command line, no log line, no saved or world-readable file
    assert command_lines_containing(PASSWORD) == []
    assert "mount work: mounted" in logs.text  # the collector sees the extension's log
    assert PASSWORD not in logs.text
    manager = jp_serverapp.web_app.settings["imagine_mounts"]
    saved = Path(manager.definitions_file)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert PASSWORD not in saved.read_text() and '"work"' in saved.read_text()
    roots = [tmp_path, Path(manager.runtime_dir)]
    assert files_containing(roots, PASSWORD, others_readable_only=False) == []

    # the remote goes away: the mount is reported unhealthy, with the cause
    webdav.stop()
    # (reported once the directory cache, --dir-cache-time, has expired: polled)
    broken = await _wait_state(jp_fetch, "work", "unhealthy")
    assert "EIO" in broken["message"] or "answer" in broken["message"]
    _, listing = await _json(jp_fetch)
    assert [(m["name"], m["state"]) for m in listing["mounts"]] == [("work", "unhealthy")]

    # it comes back: remount
    webdav.start()
    code, _ = await _json(jp_fetch, "work", "remount", method="POST", body="{}")
    assert code == 202
    await _wait_state(jp_fetch, "work", "mounted")
    assert (mountpoint / "result.txt").read_text() == "42\n"

    # the mount program dies (the mount point then answers ENOTCONN): reported, and remountable
    os.kill(manager._entries["work"].process.pid, signal.SIGKILL)
    dead: dict[str, Any] = {}

    async def reported_exited() -> bool:  # (the mount point may fail first, ECONNABORTED)
        dead.update((await _json(jp_fetch, "work"))[1])
        return dead["state"] == "unhealthy" and "exited" in dead["message"]

    await await_until(reported_exited, 20, "the mount to be reported as exited")
    with pytest.raises(OSError):
        os.listdir(mountpoint)
    await _json(jp_fetch, "work", "remount", method="POST", body="{}")
    await _wait_state(jp_fetch, "work", "mounted")
    assert "result.txt" in os.listdir(mountpoint)

    # unmount, then delete
    code, unmounted = await _json(jp_fetch, "work", "unmount", method="POST", body="")
    assert unmounted["state"] == "unmounted" and mounts_under(mount_root) == []
    response = await jp_fetch(*API, "work", method="DELETE")
    assert response.code == 204
    _, listing = await _json(jp_fetch)
    assert listing["mounts"] == []
    assert PASSWORD not in logs.text
    assert command_lines_containing(PASSWORD) == []


async def test_stopping_the_extension_unmounts_everything(
    jp_fetch: Any, jp_serverapp: Any, webdav: Any, mount_root: Path
) -> None:
    for name in ("one", "two"):
        body = {
            "name": name,
            "backend": "webdav",
            "url": webdav.url,
            "user": "alice",
            "password": PASSWORD,
            "read_only": name == "two",
        }
        await jp_fetch(*API, method="POST", body=json.dumps(body))
    for name in ("one", "two"):
        await _wait_state(jp_fetch, name, "mounted")
    assert len(mounts_under(mount_root)) == 2
    with pytest.raises(OSError):
        (mount_root / "two" / "x.txt").write_text("read-only mount")
    manager = jp_serverapp.web_app.settings["imagine_mounts"]
    await manager.stop_all()
    assert mounts_under(mount_root) == []


async def test_saved_definitions_need_the_password_again_after_restart(
    jp_fetch: Any, jp_serverapp: Any, webdav: Any
) -> None:
    body = {
        "name": "keep",
        "backend": "webdav",
        "url": webdav.url,
        "user": "alice",
        "password": PASSWORD,
    }
    await jp_fetch(*API, method="POST", body=json.dumps(body))
    await _wait_state(jp_fetch, "keep", "mounted")
    manager = jp_serverapp.web_app.settings["imagine_mounts"]
    await manager.stop_all()

    # a fresh manager reading the same file: the definition is back, the secret is not
    fresh = type(manager)(parent=manager.parent)
    fresh.start()
    try:
        (view,) = await fresh.list_mounts()
        assert view["name"] == "keep" and view["state"] == "credentials-required"
        assert view["has_secret"] is False
    finally:
        await fresh.stop_all()
