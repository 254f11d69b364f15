"""Admin-predefined mounts and the OIDC bearer token, on a real jupyter-server and WebDAV server."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.serverext import webdav_support as wd
from tests.serverext.webdav_support import WebDAVServer

pytestmark = [wd.needs_fuse, pytest.mark.fake]
API = ("jupyterhub-imagine", "api", "mounts")
TOKEN = "oidc-" + secrets.token_hex(16)


@pytest.fixture
def open_webdav(tmp_path: Path) -> Any:
    remote = tmp_path / "shared-remote"
    remote.mkdir()
    (remote / "README.txt").write_text("shared data\n")
    server = WebDAVServer(remote, "", "")
    server.start()
    yield server
    server.stop()
    wd.unmount_leftovers(tmp_path / "data")


@pytest.fixture
def jp_server_config(open_webdav: WebDAVServer, tmp_path: Path) -> dict[str, Any]:
    token_file = tmp_path / "access-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
        "ImagineServerExtension": {"nvml_module": "tests.support.fake_nvml"},
        "ImagineMountManager": {
            "root": str(tmp_path / "data"),
            "access_token_file": str(token_file),
            "predefined": [
                {
                    "name": "shared",
                    "backend": "webdav",
                    "url": open_webdav.url,
                    "auth": "oidc",
                    "automount": True,
                    "read_only": True,
                },
                {
                    "name": "team",
                    "backend": "webdav",
                    "preset": "nextcloud",
                    "url": "https://cloud.example.org",
                    "user": "alice",
                    "auth": "password",
                },
                {
                    "name": "leaky",
                    "backend": "webdav",
                    "url": open_webdav.url,
                    "password": "admins-must-not-put-secrets-here",
                },
            ],
        },
    }


async def test_predefined_mounts_appear_and_mount_with_the_hub_token(
    jp_fetch: Any, tmp_path: Path
) -> None:
    view: dict[str, Any] = {}
    for _ in range(100):
        view = json.loads((await jp_fetch(*API, "shared")).body)
        if view["state"] == "mounted":
            break
        await asyncio.sleep(0.2)
    assert view["state"] == "mounted", view
    assert view["predefined"] is True and view["read_only"] is True
    assert (tmp_path / "data" / "shared" / "README.txt").read_text() == "shared data\n"
    assert wd.command_lines_containing(TOKEN) == []

    listing = json.loads((await jp_fetch(*API)).body)
    states = {m["name"]: m["state"] for m in listing["mounts"]}
    # the entry with a secret in the admin's config is refused; the password one waits for it
    assert states == {"shared": "mounted", "team": "credentials-required"}
    team = next(m for m in listing["mounts"] if m["name"] == "team")
    assert team["url"] == "https://cloud.example.org/remote.php/dav/files/alice/"

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "shared", method="DELETE")
    assert err.value.code == 409
    assert "unmount" in json.loads(err.value.response.body)["message"]

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "team", "remount", method="POST", body="{}")
    assert err.value.code == 409

    await jp_fetch(*API, "shared", "unmount", method="POST", body="")
    assert wd.mounts_under(tmp_path / "data") == []


@pytest.mark.skipif(shutil.which("oneclient") is not None, reason="oneclient is installed")
async def test_onedata_without_its_client_says_so(jp_fetch: Any) -> None:
    body = {"name": "datahub", "backend": "onedata", "host": "datahub.egi.eu", "token": "t0k"}
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, method="POST", body=json.dumps(body))
    assert err.value.code == 501
    answer = json.loads(err.value.response.body)
    assert answer["reason"] == "client-missing" and "oneclient" in answer["message"]
