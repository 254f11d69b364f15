"""Pure parts of mounts: request parsing, presets, commands (no secret in argv), health."""

from __future__ import annotations

import errno

import pytest

from jupyterhub_imagine.serverext.mounts import health
from jupyterhub_imagine.serverext.mounts.spec import (
    B2DROP_URL,
    MountSpec,
    oneclient_command,
    parse_predefined,
    parse_request,
    rclone_env,
    rclone_mount_command,
)
from jupyterhub_imagine.serverext.validation import UserError

P = "RCLONE_CONFIG_IMAGINE_"


def test_nextcloud_preset_builds_the_dav_url_and_keeps_the_password_apart() -> None:
    spec, secrets = parse_request(
        {
            "name": "nc",
            "backend": "webdav",
            "preset": "nextcloud",
            "url": "https://cloud.example.org/",
            "user": "alice@egi.eu",
            "password": "app-pw",
        }
    )
    assert spec.url == "https://cloud.example.org/remote.php/dav/files/alice@egi.eu/"
    assert "app-pw" not in repr(spec.to_dict()) and "app-pw" not in repr(secrets)
    env = rclone_env(spec, secrets, obscured="OBSCURED")
    assert env[P + "VENDOR"] == "nextcloud" and env[P + "PASS"] == "OBSCURED"
    command = rclone_mount_command(spec, "/home/a/data/nc", rclone="rclone", extra_args=[], env=env)
    assert command.argv == ["rclone", "mount", "imagine:", "/home/a/data/nc"]
    assert not any("OBSCURED" in a or "app-pw" in a for a in command.argv)


def test_b2drop_with_the_oidc_token_sends_a_bearer() -> None:
    spec, secrets = parse_request(
        {"name": "b2", "backend": "webdav", "preset": "b2drop", "auth": "oidc", "path": "project/x"}
    )
    assert spec.url == B2DROP_URL and not secrets.values
    env = rclone_env(spec, secrets, bearer="TOKEN")
    assert env[P + "BEARER_TOKEN"] == "TOKEN" and P + "PASS" not in env
    argv = rclone_mount_command(spec, "/m", rclone="rclone", extra_args=[], env=env).argv
    assert argv[2] == "imagine:project/x"


def test_s3_keys_travel_in_the_environment() -> None:
    spec, secrets = parse_request(
        {
            "name": "s3",
            "backend": "s3",
            "endpoint": "https://s3.example.org",
            "bucket": "data",
            "access_key_id": "AK",
            "secret_access_key": "SK",
            "path": "run1",
            "read_only": True,
        }
    )
    env = rclone_env(spec, secrets)
    assert (env[P + "TYPE"], env[P + "SECRET_ACCESS_KEY"], env[P + "ENV_AUTH"]) == (
        "s3",
        "SK",
        "false",
    )
    argv = rclone_mount_command(spec, "/m", rclone="rclone", extra_args=["-v"], env=env).argv
    assert argv == ["rclone", "mount", "imagine:data/run1", "/m", "-v", "--read-only"]


def test_onedata_token_is_in_the_environment_only() -> None:
    spec, secrets = parse_request(
        {"name": "od", "backend": "onedata", "host": "datahub.egi.eu", "token": "TOK"}
    )
    command = oneclient_command(spec, "/m", oneclient="oneclient", token=secrets.values["token"])
    assert command.argv == ["oneclient", "-f", "/m"]
    assert command.env["ONECLIENT_ACCESS_TOKEN"] == "TOK"


def test_http_is_allowed_only_to_the_listed_hosts() -> None:
    body = {"name": "x", "backend": "webdav", "user": "u", "password": "p"}
    listed = ["127.0.0.1", "dav.internal"]
    parse_request({**body, "url": "http://127.0.0.1:8080/"}, insecure_http_hosts=listed)
    parse_request({**body, "url": "http://dav.internal/"}, insecure_http_hosts=listed)
    parse_request({**body, "url": "https://anything.example.org/"})
    for url, hosts in [
        ("http://127.0.0.1:8080/", []),  # loopback is not special
        ("http://localhost/", listed),
        ("http://dav.internal.evil.org/", listed),
    ]:
        with pytest.raises(UserError, match="insecure_http_hosts") as err:
            parse_request({**body, "url": url}, insecure_http_hosts=hosts)
        assert err.value.reason_code == "insecure-url"


def test_predefined_mounts_refuse_secrets_and_keep_automount() -> None:
    spec = parse_predefined(
        {"name": "b2", "backend": "webdav", "preset": "b2drop", "auth": "oidc", "automount": True}
    )
    assert spec.predefined and spec.automount and not spec.needs_secret
    with pytest.raises(UserError, match="must not contain"):
        parse_predefined({"name": "x", "backend": "s3", "secret_access_key": "SK"})
    assert MountSpec.from_dict({**spec.to_dict(), "unknown": 1}) == spec


@pytest.mark.parametrize(
    ("probe", "state", "needle"),
    [
        (health.Probe(), "mounted", ""),
        (health.Probe(process_exit=-9), "unhealthy", "exited (code -9)"),
        (health.Probe(errno=errno.ENOTCONN), "unhealthy", "ENOTCONN"),
        (health.Probe(errno=errno.EIO, log_tail="401 Unauthorized"), "unhealthy", "401"),
        (health.Probe(timed_out=True), "unhealthy", "in time"),
        (health.Probe(is_mount=False), "unhealthy", "no longer mounted"),
    ],
)
def test_health_classification(probe: health.Probe, state: str, needle: str) -> None:
    got_state, message = health.classify(probe)
    assert got_state == state and needle in message
