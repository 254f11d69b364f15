"""Tokens for user servers: the pure parts, the file writer on the real file system, the
Kubernetes Secret manifests (validated against the Kubernetes schemas) and the authenticator's
spawn hooks. The hub user and the Kubernetes API are FAKEs here (no hub, no API server); the
whole flow through a real hub is in test_server_tokens_hub.py."""

from __future__ import annotations

import base64
import os
import pwd
import stat
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
from jupyterhub.spawner import SimpleLocalProcessSpawner
from kubernetes_asyncio.client import ApiClient
from kubespawner import KubeSpawner
from traitlets.config import Config, Configurable

from jupyterhub_imagine.auth import token_files as tf
from jupyterhub_imagine.auth import token_secret as ts
from jupyterhub_imagine.auth.server_tokens import ServerTokensMixin, TokenDeliveryError
from jupyterhub_imagine.upstream.kubespawner import offline

K8S_VERSIONS = ["1.29.0", "1.33.0"]
NASTY_NAMES = ["alice@egi.eu", "..", ".", "../../etc", "a/b", ".hidden", "ünï cødé", "a%2Fb"]


# -- pure parts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NASTY_NAMES)
def test_user_directories_never_leave_the_token_dir(name: str, tmp_path: Path) -> None:
    paths = tf.paths_for(tmp_path, name)
    assert paths.directory.parent == tmp_path
    assert not paths.directory.name.startswith(".")
    assert "/" not in paths.directory.name


def test_user_directory_names_are_distinct_and_readable() -> None:
    assert tf.user_dir_name("alice@egi.eu") == "alice@egi.eu"
    assert tf.user_dir_name("..") == "%2E." and tf.user_dir_name("a/b") == "a%2Fb"
    names = {tf.user_dir_name(n) for n in NASTY_NAMES}
    assert len(names) == len(NASTY_NAMES)
    with pytest.raises(ValueError):
        tf.user_dir_name("")


def test_refresh_due_and_inside(tmp_path: Path) -> None:
    assert tf.refresh_due(expires_at=100, now=41, ahead=60)
    assert not tf.refresh_due(expires_at=100, now=39, ahead=60)
    assert tf.inside(tmp_path / "home" / "a", tmp_path / "home")
    assert tf.inside(tmp_path, tmp_path)
    assert not tf.inside(tmp_path / "homework", tmp_path / "home")
    (tmp_path / "link").symlink_to(tmp_path / "home")
    assert tf.inside(tmp_path / "link" / "x", tmp_path / "home")


def test_tokens_from_auth_state() -> None:
    kinds = ["access_token", "id_token"]
    assert tf.tokens_from_auth_state({"access_token": "a", "id_token": "i"}, kinds) == {
        "access_token": "a",
        "id_token": "i",
    }
    assert tf.tokens_from_auth_state({"id_token": "i"}, kinds) == {}
    assert tf.tokens_from_auth_state({"access_token": "a", "id_token": None}, kinds) == {
        "access_token": "a"
    }


# -- files ---------------------------------------------------------------------------------------
def nobody() -> tuple[int, int]:
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def test_files_are_private_owned_by_the_server_user_and_replaced_whole(tmp_path: Path) -> None:
    paths = tf.paths_for(tmp_path / "tokens", "alice")
    uid, gid = nobody() if os.getuid() == 0 else (os.getuid(), os.getgid())
    tf.write_tokens(paths, {"access_token": "A1", "id_token": "I1"}, uid, gid)
    for kind in ("access_token", "id_token"):
        info = paths.file(kind).stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert (info.st_uid, info.st_gid) == (uid, gid)
    info = paths.directory.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == uid
    inode = paths.file("access_token").stat().st_ino
    tf.write_tokens(paths, {"access_token": "A2"}, uid, gid)
    assert paths.file("access_token").read_text() == "A2"
    assert paths.file("access_token").stat().st_ino != inode  # renamed over, never rewritten
    assert not paths.file("id_token").exists()
    assert sorted(p.name for p in paths.directory.iterdir()) == ["access_token"]
    assert tf.remove_tokens(paths) and not paths.directory.exists()
    assert not tf.remove_tokens(paths)


def test_a_symlinked_user_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths = tf.paths_for(tmp_path / "tokens", "alice")
    paths.directory.parent.mkdir()
    paths.directory.symlink_to(elsewhere)
    with pytest.raises(RuntimeError, match="not a directory"):
        tf.write_tokens(paths, {"access_token": "A"}, os.getuid(), os.getgid())
    assert list(elsewhere.iterdir()) == []
    assert tf.remove_tokens(paths) and elsewhere.exists()


# -- Kubernetes manifests ------------------------------------------------------------------------
@pytest.mark.parametrize("name", NASTY_NAMES)
def test_secret_manifest_is_valid_for_any_user_name(name: str) -> None:
    manifest = ts.secret_manifest(ts.secret_name(name), "jhub", {"access_token": "tok"}, name)
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)
    assert base64.b64decode(manifest["data"]["access_token"]) == b"tok"
    assert manifest["metadata"]["annotations"]["hub.jupyter.org/username"] == name


def test_secret_names_are_distinct() -> None:
    assert len({ts.secret_name(n) for n in NASTY_NAMES}) == len(NASTY_NAMES)


class FakeSecretsAPI:
    """FAKE Kubernetes API: the Secret calls SecretWriter makes, kept in a dict."""

    class Error(Exception):
        def __init__(self, status: int) -> None:
            super().__init__(status)
            self.status = status

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []

    async def create_namespaced_secret(self, namespace: str, body: Any) -> Any:
        self.calls.append("create")
        key = (namespace, body["metadata"]["name"])
        if key in self.secrets:
            raise self.Error(409)
        self.secrets[key] = body

    async def replace_namespaced_secret(self, name: str, namespace: str, body: Any) -> Any:
        self.calls.append("replace")
        self.secrets[(namespace, name)] = body

    async def delete_namespaced_secret(self, name: str, namespace: str) -> Any:
        self.calls.append("delete")
        if self.secrets.pop((namespace, name), None) is None:
            raise self.Error(404)


@pytest.mark.fake
@pytest.mark.asyncio
async def test_secret_writer_creates_replaces_and_deletes() -> None:
    api = FakeSecretsAPI()
    writer = ts.SecretWriter(api)
    manifest = ts.secret_manifest("s", "jhub", {"access_token": "1"}, "alice")
    await writer.apply(manifest)
    await writer.apply(ts.secret_manifest("s", "jhub", {"access_token": "2"}, "alice"))
    assert api.calls == ["create", "create", "replace"]
    assert api.secrets[("jhub", "s")]["data"]["access_token"] == base64.b64encode(b"2").decode()
    assert await writer.delete("s", "jhub") is True
    assert await writer.delete("s", "jhub") is False


# -- the authenticator's hooks -------------------------------------------------------------------
class FakeUser:
    """FAKE hub user: name, auth state, servers (no hub runs here)."""

    def __init__(self, name: str, auth_state: dict[str, Any]) -> None:
        self.name = name
        self.id = 7
        self.url = f"/user/{name}/"
        self.escaped_name = name
        self.groups: list[Any] = []
        self.auth_state = auth_state
        self.spawners: dict[str, Any] = {}
        self.synced_groups: list[str] | None = None

    async def get_auth_state(self) -> dict[str, Any]:
        return self.auth_state

    async def save_auth_state(self, auth_state: dict[str, Any]) -> None:
        self.auth_state = auth_state

    def sync_groups(self, groups: list[str]) -> None:
        self.synced_groups = groups

    @property
    def active(self) -> bool:
        return any(s.active for s in self.spawners.values())


class Tokens(ServerTokensMixin):
    """The token hooks of ImagineOAuthenticator, with refresh_user recording its calls."""

    refresh_ahead = 60.0
    manage_groups = True

    def __init__(self, result: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.refreshed: list[str] = []

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        self.refreshed.append(user.name)
        async with self.user_lock(user.name):
            await self.deliver_refreshed(user, self.result)
        return self.result


def state(token: str, expires_in: float = 3600) -> dict[str, Any]:
    return {
        "access_token": token,
        "id_token": f"id.{token}.x",
        "expires_at": time.time() + expires_in,
    }


def local_spawner(user: FakeUser, home: Path) -> SimpleLocalProcessSpawner:
    spawner = SimpleLocalProcessSpawner(user=user, home_dir_template=str(home / "{username}"))
    user.spawners[""] = spawner
    return spawner


@pytest.mark.fake
@pytest.mark.asyncio
async def test_spawn_writes_the_file_and_names_it_in_the_environment(tmp_path: Path) -> None:
    auth = Tokens(token_dir=str(tmp_path / "tokens"), token_refresh_interval=0)
    alice = FakeUser("alice", state("A1"))
    spawner = local_spawner(alice, tmp_path / "home")
    await auth.pre_spawn_start(alice, spawner)
    env = spawner.environment
    path = Path(env["IMAGINE_ACCESS_TOKEN_FILE"])
    assert path.read_text() == "A1"
    assert Path(env["IMAGINE_ID_TOKEN_FILE"]).read_text() == "id.A1.x"
    assert (path.stat().st_uid, path.stat().st_gid) == (os.getuid(), os.getgid())
    assert "A1" not in "".join(env.values())
    # A refresh rewrites the file; losing access at a refresh deletes it.
    auth.result = {"name": "alice", "auth_state": state("A2")}
    await auth.refresh_user(alice)
    assert path.read_text() == "A2" and alice.auth_state["access_token"] == "A2"
    auth.result = False
    await auth.refresh_user(alice)
    assert not path.parent.exists()


@pytest.mark.fake
@pytest.mark.asyncio
async def test_token_dir_inside_the_served_home_is_refused(tmp_path: Path) -> None:
    auth = Tokens(token_dir=str(tmp_path / "home" / "alice" / "tokens"), token_refresh_interval=0)
    alice = FakeUser("alice", state("A1"))
    spawner = local_spawner(alice, tmp_path / "home")
    with pytest.raises(TokenDeliveryError, match="token_dir"):
        await auth.pre_spawn_start(alice, spawner)
    assert not (tmp_path / "home" / "alice" / "tokens").exists()


@pytest.mark.fake
@pytest.mark.asyncio
async def test_without_id_token_and_with_none(tmp_path: Path) -> None:
    auth = Tokens(token_dir=str(tmp_path / "t"), server_id_token=False, token_refresh_interval=0)
    alice = FakeUser("alice", state("A1"))
    spawner = local_spawner(alice, tmp_path / "home")
    await auth.pre_spawn_start(alice, spawner)
    assert "IMAGINE_ID_TOKEN_FILE" not in spawner.environment
    assert sorted(p.name for p in Path(tmp_path / "t" / "alice").iterdir()) == ["access_token"]
    off = Tokens(token_dir=str(tmp_path / "off"), server_tokens="none")
    bob = FakeUser("bob", state("B1"))
    spawner = local_spawner(bob, tmp_path / "home")
    await off.pre_spawn_start(bob, spawner)
    assert "IMAGINE_ACCESS_TOKEN_FILE" not in spawner.environment
    assert not (tmp_path / "off").exists()


@pytest.mark.fake
@pytest.mark.asyncio
async def test_file_stays_while_another_server_runs_and_goes_with_the_last(tmp_path: Path) -> None:
    auth = Tokens(token_dir=str(tmp_path / "tokens"), token_refresh_interval=0)
    alice = FakeUser("alice", state("A1"))
    first = local_spawner(alice, tmp_path / "home")
    orm = SimpleNamespace(name="two", server=None)  # FAKE database row: the server's name
    second = SimpleLocalProcessSpawner(
        user=alice, orm_spawner=orm, home_dir_template=first.home_dir_template
    )
    assert second.name == "two"
    alice.spawners["two"] = second
    await auth.pre_spawn_start(alice, first)
    await auth.pre_spawn_start(alice, second)
    second._spawn_pending = True  # still running (active)
    await auth.post_spawn_stop(alice, first)
    directory = tmp_path / "tokens" / "alice"
    assert (directory / "access_token").exists()
    second._spawn_pending = False
    await auth.post_spawn_stop(alice, second)
    assert not directory.exists()


@pytest.mark.fake
@pytest.mark.asyncio
async def test_periodic_pass_refreshes_only_due_tokens_and_drops_stopped_servers(
    tmp_path: Path,
) -> None:
    auth = Tokens(token_dir=str(tmp_path / "tokens"), token_refresh_interval=0)
    alice = FakeUser("alice", state("A1", expires_in=3600))
    spawner = local_spawner(alice, tmp_path / "home")
    await auth.pre_spawn_start(alice, spawner)
    spawner._spawn_pending = True
    await auth.refresh_server_tokens()
    assert auth.refreshed == []  # not due
    alice.auth_state["expires_at"] = time.time() + 30  # within refresh_ahead
    auth.result = {"name": "alice", "auth_state": state("A2"), "groups": ["egi:vo"]}
    await auth.refresh_server_tokens()
    assert auth.refreshed == ["alice"]
    assert (tmp_path / "tokens" / "alice" / "access_token").read_text() == "A2"
    assert alice.synced_groups == ["egi:vo"]
    spawner._spawn_pending = False  # the server died without a stop through the hub
    await auth.refresh_server_tokens()
    assert not (tmp_path / "tokens" / "alice").exists()
    assert auth.refreshed == ["alice"]


@pytest.mark.fake
@pytest.mark.asyncio
@pytest.mark.usefixtures("fake_kubeconfig")
async def test_kubernetes_secret_mounted_where_egi_notebooks_put_it() -> None:
    api = FakeSecretsAPI()
    auth = Tokens(secret_writer=ts.SecretWriter(api), token_refresh_interval=0)
    alice = FakeUser("alice@egi.eu", state("A1"))
    c = Config()
    c.KubeSpawner.namespace = "jhub"
    c.KubeSpawner.image = "quay.io/jupyter/base-notebook"
    spawner = offline(KubeSpawner, user=alice, config=c)
    alice.spawners[""] = spawner
    for _ in range(2):  # a respawn adds no second volume
        await auth.pre_spawn_start(alice, spawner)
    secret = api.secrets[("jhub", ts.secret_name("alice@egi.eu"))]
    assert base64.b64decode(secret["data"]["access_token"]) == b"A1"
    async with ApiClient() as client:
        pod = client.sanitize_for_serialization(await spawner.get_pod_manifest())
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
        kubernetes_validate.validate(secret, version, strict=True)
    (notebook,) = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    env = {e["name"]: e.get("value") for e in notebook["env"]}
    assert env["IMAGINE_ACCESS_TOKEN_FILE"] == "/var/run/secrets/egi.eu/access_token"
    assert env["IMAGINE_ID_TOKEN_FILE"] == "/var/run/secrets/egi.eu/id_token"
    mounts = [m for m in notebook["volumeMounts"] if m["name"] == ts.VOLUME_NAME]
    assert mounts == [{"name": ts.VOLUME_NAME, "mountPath": ts.MOUNT_PATH, "readOnly": True}]
    volumes = [v for v in pod["spec"]["volumes"] if v["name"] == ts.VOLUME_NAME]
    assert [v["secret"]["secretName"] for v in volumes] == [secret["metadata"]["name"]]
    # A refresh replaces the Secret; the last stop deletes it.
    auth.result = {"name": alice.name, "auth_state": state("A2")}
    await auth.refresh_user(alice)
    assert base64.b64decode(secret_data(api, alice.name)) == b"A2"
    await auth.post_spawn_stop(alice, spawner)
    assert api.secrets == {}


def secret_data(api: FakeSecretsAPI, username: str) -> str:
    data: str = api.secrets[("jhub", ts.secret_name(username))]["data"]["access_token"]
    return data


class FakeHubApp(Configurable):
    """FAKE JupyterHub application: only its ``users`` (loaded users by id)."""

    def __init__(self, users: list[FakeUser], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.users = {i: u for i, u in enumerate(users)}


@pytest.mark.fake
@pytest.mark.asyncio
async def test_servers_kept_over_a_hub_restart_are_adopted(tmp_path: Path) -> None:
    before = Tokens(token_dir=str(tmp_path / "tokens"), token_refresh_interval=0)
    alice = FakeUser("alice", state("A1", expires_in=10))
    spawner = local_spawner(alice, tmp_path / "home")
    await before.pre_spawn_start(alice, spawner)
    spawner._spawn_pending = True
    bob = FakeUser("bob", state("B1", expires_in=10))  # running, but spawned without tokens
    local_spawner(bob, tmp_path / "home")._spawn_pending = True
    # A new hub process: a new authenticator that never saw the spawns.
    after = Tokens(
        parent=FakeHubApp([alice, bob]),
        token_dir=str(tmp_path / "tokens"),
        token_refresh_interval=0,
    )
    after.result = {"name": "alice", "auth_state": state("A2")}
    await after.refresh_server_tokens()
    assert after.refreshed == ["alice"]
    assert (tmp_path / "tokens" / "alice" / "access_token").read_text() == "A2"
    assert not (tmp_path / "tokens" / "bob").exists()
