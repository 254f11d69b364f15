"""Pure pieces of the input and mount hardening: JSON bounds, host names, leftovers, configs."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from jupyterhub_imagine.serverext.mounts import leftovers
from jupyterhub_imagine.serverext.mounts.manager import ImagineMountManager
from jupyterhub_imagine.serverext.mounts.process import child_env
from jupyterhub_imagine.serverext.mounts.spec import parse_request, rclone_config_text, rclone_env
from jupyterhub_imagine.serverext.validation import (
    UserError,
    check_hostname,
    check_name,
    json_depth,
    parse_json_body,
    parse_json_object,
)


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not count
        (b'{"a": "\\"[[["}', 1),  # nor after an escaped quote
        (b"[" * 10_000, 10_000),
        (b"42", 0),
    ],
)
def test_json_depth_is_counted_without_parsing(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


def test_deep_bodies_are_refused_before_the_parser_recurses() -> None:
    with pytest.raises(UserError) as err:
        parse_json_body(b"[" * 200_000 + b"]" * 200_000, max_bytes=10**6)
    assert err.value.status_code == 400 and err.value.reason_code == "too-deep"
    with pytest.raises(UserError) as err:
        parse_json_body(b"{}" + b" " * 70_000)
    assert err.value.status_code == 413
    with pytest.raises(UserError, match="not valid JSON"):
        parse_json_body(b'{"a": NaN}')
    with pytest.raises(UserError, match="JSON object"):
        parse_json_object(b"[1]")
    assert parse_json_object(b"") == {}
    assert parse_json_body(b'{"a": [[1]]}', max_depth=3) == {"a": [[1]]}


@pytest.mark.parametrize(
    "name", ["a\n", "a\n\n", "\na", "a\x00", "-a", ".a", "a/b", "n" * 64, "", "ａ"]
)
def test_names_match_the_whole_string(name: str) -> None:
    with pytest.raises(UserError):
        check_name(name)


def test_host_names_follow_dns_limits() -> None:
    ok = [".".join(["a" * 63] * 3) + ".org", "a.b", "127.0.0.1", "::1", "x-1.example.org."]
    for host in ok:
        assert check_hostname(host) == host
    bad = [
        "a" * 64 + ".org",
        ".".join(["a" * 63] * 4) + ".org",
        "a..b",
        "-a.org",
        "a-.org",
        "a_b.org",
        "a.org\n",
        "",
    ]
    for host in bad:
        with pytest.raises(UserError):
            check_hostname(host)


def test_mountinfo_finds_fuse_mounts_directly_below_the_root() -> None:
    lines = [
        "36 35 0:33 / /home/a/data/one rw - fuse.rclone imagine: rw,user_id=0",
        "37 35 0:34 / /home/a/data/with\\040space rw - fuse.rclone x: rw",
        "38 35 0:35 / /home/a/data/deep/er rw - fuse.rclone x: rw",
        "39 35 0:36 / /home/a/data2/other rw - fuse.rclone x: rw",
        "40 35 0:37 / /home/a/data/tmp rw shared:1 - tmpfs tmpfs rw",
        "garbage",
    ]
    found = leftovers.parse_mountinfo(lines, "/home/a/data")
    assert found == ["/home/a/data/one", "/home/a/data/with space"]


def test_pending_uploads_are_the_dirty_cache_entries(tmp_path: Path) -> None:
    meta = tmp_path / "cache" / leftovers.META_DIR / "imagine"
    (meta / "sub").mkdir(parents=True)
    (meta / "done.txt").write_text(json.dumps({"Dirty": False}))
    (meta / "sub" / "new.txt").write_text(json.dumps({"Dirty": True}))
    (meta / "broken.txt").write_text("{not json")
    assert leftovers.pending_uploads(str(tmp_path / "cache")) == ["sub/new.txt"]
    assert leftovers.pending_uploads(str(tmp_path / "nothing")) == []
    assert leftovers.describe(["a", "b", "c"], most=2) == "'a', 'b' and 1 more"
    # the cache folder depends on the user and the mount name only
    assert leftovers.cache_folder("/c", "alice@x.org", "dav") == "/c/alice@x.org.dav"
    assert leftovers.cache_folder("/c", "../../x", "dav") == "/c/.._.._x.dav"


def test_rclone_gets_its_remote_as_a_config_file_and_a_minimal_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, secrets = parse_request(
        {"name": "w", "backend": "webdav", "url": "https://d.org/", "user": "u", "password": "p"}
    )
    text = rclone_config_text(rclone_env(spec, secrets, obscured="OBSCURED"))
    assert text.splitlines() == [
        "[imagine]",
        "type = webdav",
        "url = https://d.org/",
        "vendor = other",
        "user = u",
        "pass = OBSCURED",
    ]
    with pytest.raises(ValueError):
        rclone_config_text({"RCLONE_CONFIG_IMAGINE_USER": "u\n[other]"})
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    env = child_env({"RCLONE_CONFIG": "/proc/self/fd/3"})
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "RCLONE_CONFIG"}
    assert env["PATH"] and env["HOME"] == os.path.expanduser("~")


def test_a_failed_mount_is_not_saved_as_live(tmp_path: Path) -> None:
    """The mount program (here `false`, a real program that fails) cannot mount: the mount is
    reported in error and saved without automount, so a restart does not retry it unasked."""
    manager = ImagineMountManager(
        root=str(tmp_path / "data"),
        definitions_file=str(tmp_path / "mounts.json"),
        cache_root=str(tmp_path / "cache"),
        runtime_dir=str(tmp_path / "runtime"),
        rclone_command="false",
    )

    async def scenario() -> dict[str, object]:
        body = {
            "name": "bad",
            "backend": "webdav",
            "url": "https://d.org/",
            "user": "u",
            "password": "p",
        }
        await manager.create(body)
        task = manager._entries["bad"].task
        assert task is not None
        await task
        view = await manager.get("bad")
        await manager.stop_all()
        return view

    view = asyncio.run(scenario())
    assert view["state"] == "error" and "failed" in str(view["message"])
    saved = json.loads((tmp_path / "mounts.json").read_text())["mounts"]
    assert [(m["name"], m.get("automount", False)) for m in saved] == [("bad", False)]
