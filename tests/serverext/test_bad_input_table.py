"""The bad-input table: every case from bad_input_cases against one real server.

Real: jupyter-server with the extension in a subprocess, `rclone serve webdav` on loopback, a
real mount of it (rclone over FUSE) that bad requests must not disturb, and a CVMFS-shaped tree
with a symbolic link loop. The culler's identity is the TEST DOUBLE from the labextension tests.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serverext import cvmfs_tree
from tests.serverext.bad_input_cases import FULL, LIVE, Case, all_cases
from tests.serverext.server_proc import Server, running_server
from tests.serverext.webdav_support import (
    WebDAVServer,
    mounts_under,
    needs_fuse,
    unmount_leftovers,
)

pytestmark = needs_fuse
CASES = all_cases()
PASSWORD = "table-pw-0123456789"


def _wait_state(server: Server, name: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = server.api("GET", f"mounts/{name}").json()
        if body.get("state") == wanted:
            return body
        time.sleep(0.2)
    raise AssertionError(f"mount {name} never became {wanted}: {body}")


@pytest.fixture(scope="module")
def table_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("bad-input")
    remote = tmp / "webdav-remote"
    remote.mkdir()
    (remote / "kept.txt").write_text("kept\n")
    webdav = WebDAVServer(remote, "alice", PASSWORD)
    webdav.start()
    cvmfs = cvmfs_tree.build(tmp / "cvmfs")
    os.symlink("/etc", cvmfs / "escape")
    os.symlink("loop", cvmfs / "loop")
    data = tmp / "home" / "data"
    (data / FULL).mkdir(parents=True)
    (data / FULL / "mine.txt").write_text("the user's own file\n")
    config = {
        "ImagineServerExtension": {"insecure_http_hosts": ["127.0.0.1"]},
        "ImagineMountManager": {
            "root": str(data),
            "cache_root": str(tmp / "cache"),
            "flush_timeout": 1.0,
        },
        "ImagineSoftwareCatalog": {"root": str(cvmfs), "lmod_init": ""},
    }
    try:
        with running_server(tmp, config) as server:
            body = {
                "name": LIVE,
                "backend": "webdav",
                "url": webdav.url,
                "user": "alice",
                "password": PASSWORD,
            }
            assert server.api("POST", "mounts", data=json.dumps(body)).status_code == 202
            _wait_state(server, LIVE, "mounted")
            yield server
        # the server stopped (SIGTERM): it unmounted everything and left no mount program
        assert mounts_under(data) == []
    finally:
        webdav.stop()
        unmount_leftovers(data)


def test_the_table_is_big_and_its_ids_unique() -> None:
    assert len(CASES) >= 500
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.fake
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_a_json_message(table_server: Server, case: Case) -> None:
    response = table_server.api(
        case.method,
        case.route,
        culler=case.culler,
        data=case.body,
        params=list(case.query),
        headers={"Content-Type": "application/json"},
    )
    code = response.status_code
    assert 400 <= code < 500, f"{case.id}: answered {code}: {response.text[:300]}"
    if case.expected is not None:
        assert code == case.expected, f"{case.id}: {code}: {response.text[:300]}"
    assert response.headers.get("Content-Type", "").startswith("application/json")
    message = response.json().get("message")
    assert isinstance(message, str) and message and "%s" not in message
    assert len(message) < 2000  # nothing big echoed back


@pytest.mark.fake
def test_nothing_was_accepted_on_the_side(table_server: Server) -> None:
    """After the whole table: the real mount is still the only one, still mounted, with its
    files; no kernel was made; the user's non-empty folder was not mounted over."""
    mounts = table_server.api("GET", "mounts").json()["mounts"]
    assert [(m["name"], m["state"]) for m in mounts] == [(LIVE, "mounted")]
    assert table_server.api("GET", "software/kernels").json()["kernels"] == []
    data = table_server.home / "data"
    assert sorted(os.listdir(data)) == sorted([LIVE, FULL])
    assert (data / FULL / "mine.txt").read_text() == "the user's own file\n"
    assert (data / LIVE / "kept.txt").read_text() == "kept\n"
    assert [Path(p).name for p in mounts_under(data)] == [LIVE]
