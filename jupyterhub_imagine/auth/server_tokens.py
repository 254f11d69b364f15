"""Hand user servers a fresh access token: a 0600 file on one machine, a Secret on Kubernetes.

How it works (no spawner code involved):

- ``pre_spawn_start`` writes the user's current tokens and names them in the server's
  environment (``IMAGINE_ACCESS_TOKEN_FILE``, ``IMAGINE_ID_TOKEN_FILE``);
- every refresh of the user (hub visits after ``auth_refresh_age``, ``refresh_pre_spawn``, and
  the hub-side periodic refresher below) rewrites them, under a per-user lock;
- a periodic callback in the hub refreshes tokens of users with running servers when they are
  due (``refresh_ahead`` before expiry), so a long session stays valid while the user never
  visits the hub; each of those refreshes re-reads userinfo, and a user who lost access loses
  the token files at once;
- ``post_spawn_stop`` deletes them when the user's last server stops.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
from tornado.ioloop import PeriodicCallback
from traitlets import Any as AnyTrait
from traitlets import Bool, Enum, Float, Unicode
from traitlets.config import LoggingConfigurable

from . import token_files as tf
from . import token_secret as ts


class TokenDeliveryError(RuntimeError):
    """Tokens cannot be given to a server safely; the message says which setting to change."""


@dataclass
class Delivery:
    """Where one user's tokens go."""

    mode: str  # "file" | "kubernetes"
    user: Any
    servers: set[str] = field(default_factory=set)
    withheld: bool = False  # a server is shared: no tokens until the shares are gone
    uid: int = -1
    gid: int = -1
    namespace: str = ""


def _is_kube(spawner: Any) -> bool:
    try:
        from kubespawner import KubeSpawner
    except ImportError:  # pragma: no cover - kubespawner is a dependency
        return False
    return isinstance(spawner, KubeSpawner)


def _runs_as_user(spawner: Any) -> bool:
    """Whether the server runs as the system user named like the hub user."""
    return (
        isinstance(spawner, LocalProcessSpawner)
        and not isinstance(spawner, SimpleLocalProcessSpawner)
        and not getattr(spawner, "home_dir_template", "")
    )


def is_shared(user: Any) -> bool:
    """Whether any running server of ``user`` is shared with someone (JupyterHub sharing)."""
    from jupyterhub import orm

    ids = [s.orm_spawner.id for s in user.spawners.values() if s.active and s.orm_spawner]
    if not ids or getattr(user, "db", None) is None:
        return False
    shares = user.db.query(orm.Share).filter(orm.Share.spawner_id.in_(ids)).all()
    return any(not share.expired for share in shares)


def served_roots(spawner: Any, username: str) -> list[str]:
    """Directories a server may serve (its home and notebook_dir), as far as the hub knows."""
    roots = []
    template = getattr(spawner, "home_dir_template", "")
    if template:
        roots.append(template.format(username=username))
    elif _runs_as_user(spawner):
        try:
            roots.append(pwd.getpwnam(username).pw_dir)
        except KeyError:
            pass
    notebook_dir = spawner.format_string(spawner.notebook_dir) if spawner.notebook_dir else ""
    if notebook_dir and os.path.isabs(notebook_dir):
        roots.append(notebook_dir)
    return roots


class ServerTokensMixin(LoggingConfigurable):
    """Traits and hooks of ImagineOAuthenticator that hand tokens to user servers."""

    server_tokens = Enum(
        ["auto", "file", "kubernetes", "none"],
        default_value="auto",
        config=True,
        help="""How user servers get the user's access token, kept fresh by the hub:
        "file" (one machine: a 0600 file in `token_dir`), "kubernetes" (a Secret per user
        mounted at /var/run/secrets/egi.eu/), "auto" (kubernetes for KubeSpawner, else file),
        or "none". The server finds the file through IMAGINE_ACCESS_TOKEN_FILE (and
        IMAGINE_ID_TOKEN_FILE with `server_id_token`).""",
    )
    token_dir = Unicode(
        "jupyterhub-imagine-tokens",
        config=True,
        help="""Directory of the per-user token directories (<token_dir>/<user>/access_token),
        relative to the hub's working directory unless absolute. It must not lie inside any
        directory a server serves (home, notebook_dir): spawns fail if it does. Use a local
        file system; each user directory is 0700 and owned by the user the server runs as.""",
    )
    token_file_owner = Unicode(
        "",
        config=True,
        help="""System user owning the token files; "{username}" means the system user named
        like the hub user. Empty: that user for LocalProcessSpawner (which runs servers as
        them), else the hub's own user (servers that run as the hub's user).""",
    )
    server_id_token = Bool(
        True, config=True, help="Also give servers the id_token (IMAGINE_ID_TOKEN_FILE)."
    )
    token_refresh_interval = Float(
        30.0,
        config=True,
        help="""Seconds between two checks of the tokens of running servers; a token is
        refreshed at the first check within `refresh_ahead` of its expiry, so keep this well
        below `refresh_ahead`. 0 turns the periodic refresher off (tokens are then refreshed
        only when the user uses the hub).""",
    )
    withhold_when_shared = Bool(
        True,
        config=True,
        help="""Take the tokens away while a server is shared (JupyterHub sharing gives guests
        the whole server, code execution included, so they could read the token file), and give
        them back when the last share ends. Checked at spawn and every
        `token_refresh_interval` seconds.""",
    )
    secret_writer = AnyTrait(
        None,
        allow_none=True,
        help="SecretWriter for the kubernetes mode; None: one over kubespawner's API client.",
    )

    # provided by the authenticator
    refresh_ahead: float
    manage_groups: bool
    if TYPE_CHECKING:

        async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any: ...

    # -- state ----------------------------------------------------------------------------------
    @property
    def _deliveries(self) -> dict[str, Delivery]:
        if "_imagine_deliveries" not in self.__dict__:
            self.__dict__["_imagine_deliveries"] = {}
        return self.__dict__["_imagine_deliveries"]  # type: ignore[no-any-return]

    @asynccontextmanager
    async def user_lock(self, name: str) -> AsyncIterator[None]:
        """One refresh per user at a time: refresh tokens may be single-use."""
        locks: dict[str, asyncio.Lock] = self.__dict__.setdefault("_imagine_locks", {})
        lock = locks.setdefault(name, asyncio.Lock())
        async with lock:
            yield

    def _kinds(self) -> list[str]:
        return ["access_token", "id_token"] if self.server_id_token else ["access_token"]

    def _mode_for(self, spawner: Any) -> str:
        if self.server_tokens != "auto":
            return str(self.server_tokens)
        return "kubernetes" if _is_kube(spawner) else "file"

    def _owner(self, spawner: Any, username: str) -> tuple[int, int]:
        name = self.token_file_owner.format(username=username)
        if not name and _runs_as_user(spawner):
            name = username
        if not name:
            return os.getuid(), os.getgid()
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise TokenDeliveryError(
                f"no system user {name!r} to own the token files of {username} "
                "(ImagineOAuthenticator.token_file_owner)"
            ) from None
        return pw.pw_uid, pw.pw_gid

    def _writer(self) -> ts.SecretWriter:
        if self.secret_writer is None:
            self.secret_writer = ts.SecretWriter()
        return self.secret_writer  # type: ignore[no-any-return]

    # -- hooks ----------------------------------------------------------------------------------
    async def pre_spawn_start(self, user: Any, spawner: Any) -> None:
        """Write the tokens and name them in the server's environment."""
        mode = self._mode_for(spawner)
        if mode == "none":
            return
        tokens = tf.tokens_from_auth_state(await user.get_auth_state() or {}, self._kinds())
        if not tokens:
            self.log.warning("%s/%s: no access token to give the server", user.name, spawner.name)
            return
        async with self.user_lock(user.name):
            delivery = self._deliveries.get(user.name) or Delivery(mode, user)
            if mode == "file":
                env = self._prepare_file(delivery, user, spawner)
            else:
                env = self._prepare_secret(delivery, user, spawner)
            delivery.servers.add(spawner.name)
            delivery.withheld = self.withhold_when_shared and is_shared(user)
            if delivery.withheld:
                self.log.warning("%s/%s is shared: no tokens for it", user.name, spawner.name)
            else:
                await self._write(delivery, tokens)
            self._deliveries[user.name] = delivery
        spawner.environment = {**spawner.environment, **env}
        self.log.info("%s/%s: tokens given to the server (%s)", user.name, spawner.name, mode)
        self.start_token_refresher()

    def _prepare_file(self, delivery: Delivery, user: Any, spawner: Any) -> dict[str, str]:
        paths = tf.paths_for(self.token_dir, user.name)
        for root in served_roots(spawner, user.name):
            if tf.inside(paths.directory, root):
                raise TokenDeliveryError(
                    f"ImagineOAuthenticator.token_dir ({self.token_dir}) is inside {root}, "
                    f"which {user.name}'s server serves: guests of a shared server could read "
                    "the tokens there. Choose a directory outside every home and notebook_dir."
                )
        delivery.uid, delivery.gid = self._owner(spawner, user.name)
        return paths.server_env(self._kinds())

    def _prepare_secret(self, delivery: Delivery, user: Any, spawner: Any) -> dict[str, str]:
        delivery.namespace = spawner.namespace
        name = ts.secret_name(user.name)
        volume = ts.token_volume(name)
        if isinstance(spawner.volumes, dict):
            spawner.volumes = {**spawner.volumes, ts.VOLUME_NAME: volume}
        else:
            spawner.volumes = ts.with_entry(list(spawner.volumes), volume)
        mount = ts.token_volume_mount()
        if isinstance(spawner.volume_mounts, dict):
            spawner.volume_mounts = {**spawner.volume_mounts, ts.VOLUME_NAME: mount}
        else:
            spawner.volume_mounts = ts.with_entry(list(spawner.volume_mounts), mount)
        return ts.server_env(self._kinds())

    async def post_spawn_stop(self, user: Any, spawner: Any) -> None:
        """Delete the tokens when the user's last server has stopped."""
        mode = self._mode_for(spawner)
        if mode == "none":
            return
        others = [s for s in user.spawners.values() if s is not spawner and s.active]
        async with self.user_lock(user.name):
            delivery = self._deliveries.get(user.name)
            if delivery is not None:
                delivery.servers.discard(spawner.name)
            if others:
                return
            delivery = self._deliveries.pop(user.name, None) or Delivery(mode, user)
            if mode == "kubernetes":
                delivery.namespace = delivery.namespace or spawner.namespace
            await self._withdraw(delivery)

    # -- writing --------------------------------------------------------------------------------
    async def _write(self, delivery: Delivery, tokens: dict[str, str]) -> None:
        name = delivery.user.name
        if delivery.mode == "file":
            paths = tf.paths_for(self.token_dir, name)
            await asyncio.to_thread(tf.write_tokens, paths, tokens, delivery.uid, delivery.gid)
        else:
            manifest = ts.secret_manifest(ts.secret_name(name), delivery.namespace, tokens, name)
            await self._writer().apply(manifest)

    async def _withdraw(self, delivery: Delivery) -> None:
        name = delivery.user.name
        if delivery.mode == "file":
            removed = await asyncio.to_thread(tf.remove_tokens, tf.paths_for(self.token_dir, name))
        else:
            removed = await self._writer().delete(ts.secret_name(name), delivery.namespace)
        if removed:
            self.log.info("%s: server tokens deleted", name)

    async def deliver_refreshed(self, user: Any, result: Any) -> None:
        """After a refresh (lock held): rewrite the tokens, or withdraw them on lost access."""
        delivery = self._deliveries.get(user.name)
        if isinstance(result, dict) and result.get("auth_state"):
            # Saved now, not only by the caller: the next refresh must see rotated tokens.
            await user.save_auth_state(result["auth_state"])
            tokens = tf.tokens_from_auth_state(result["auth_state"], self._kinds())
            if delivery is not None and tokens and not delivery.withheld:
                await self._write(delivery, tokens)
        elif result is False and delivery is not None:
            self.log.warning("%s: access lost, server tokens withdrawn", user.name)
            del self._deliveries[user.name]
            await self._withdraw(delivery)

    # -- the periodic refresher -----------------------------------------------------------------
    def start_token_refresher(self) -> None:
        """Start the periodic refresher (needs a running event loop); idempotent."""
        if self.server_tokens == "none" or self.token_refresh_interval <= 0:
            return
        if self.__dict__.get("_imagine_refresher") is not None:
            return
        callback = PeriodicCallback(self.refresh_server_tokens, self.token_refresh_interval * 1e3)
        self.__dict__["_imagine_refresher"] = callback
        callback.start()

    async def refresh_server_tokens(self) -> None:
        """One pass: adopt servers kept over a hub restart, refresh due tokens, drop stale ones."""
        self._adopt_running_servers()
        for name, delivery in list(self._deliveries.items()):
            try:
                await self._refresh_one(name, delivery)
            except Exception:
                self.log.exception("%s: refreshing server tokens failed", name)

    async def _refresh_one(self, name: str, delivery: Delivery) -> None:
        user = delivery.user
        if not user.active:
            async with self.user_lock(name):
                if self._deliveries.get(name) is delivery:
                    del self._deliveries[name]
                    await self._withdraw(delivery)
            return
        if await self._withhold_if_shared(name, delivery):
            return
        auth_state = await user.get_auth_state() or {}
        expires_at = float(auth_state.get("expires_at") or 0)
        if not tf.refresh_due(expires_at, time.time(), self.refresh_ahead):
            return
        result = await self.refresh_user(user)  # writes the files (deliver_refreshed)
        if isinstance(result, dict):
            if self.manage_groups and "groups" in result:
                user.sync_groups(result["groups"])
            self.log.info("%s: tokens of running servers refreshed by the hub", name)

    async def _withhold_if_shared(self, name: str, delivery: Delivery) -> bool:
        """Withdraw tokens from a server that became shared, give them back when it is not."""
        shared = self.withhold_when_shared and is_shared(delivery.user)
        if shared == delivery.withheld:
            return shared
        async with self.user_lock(name):
            delivery.withheld = shared
            if shared:
                self.log.warning("%s: a server is shared, its tokens are withdrawn", name)
                await self._withdraw(delivery)
                return True
            auth_state = await delivery.user.get_auth_state() or {}
            tokens = tf.tokens_from_auth_state(auth_state, self._kinds())
            if tokens:
                await self._write(delivery, tokens)
                self.log.info("%s: no more shares, tokens given back", name)
        return False

    def _adopt_running_servers(self) -> None:
        """After a hub restart, servers still running have tokens no one refreshes: adopt them."""
        users = getattr(self.parent, "users", None)
        if users is None or self.server_tokens == "none":
            return
        for user in list(users.values()):
            if user.name in self._deliveries:
                continue
            running = [s for s in user.spawners.values() if s.active]
            if not running:
                continue
            spawner = running[0]
            mode = self._mode_for(spawner)
            delivery = Delivery(mode, user, {s.name for s in running})
            if mode == "file":
                directory = tf.paths_for(self.token_dir, user.name).directory
                if not directory.is_dir():
                    continue  # spawned without tokens
                stat = directory.stat()
                delivery.uid, delivery.gid = stat.st_uid, stat.st_gid
            elif mode == "kubernetes":
                delivery.namespace = spawner.namespace
            else:
                continue
            self._deliveries[user.name] = delivery
