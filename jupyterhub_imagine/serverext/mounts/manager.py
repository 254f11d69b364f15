"""ImagineMountManager: the user's data mounts (definitions, secrets in memory, processes)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import getpass
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir
from tornado.ioloop import IOLoop
from traitlets import Dict, Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from ..validation import NotFound, UserError, check_name
from . import health
from .leftovers import cache_folder, describe, pending_uploads, unmount_orphans
from .process import (
    MountFailed,
    MountProcess,
    child_env,
    fusermount_program,
    is_stale,
    lazy_unmount,
    obscure,
)
from .spec import (
    Command,
    MountSpec,
    Secrets,
    oneclient_command,
    parse_predefined,
    parse_request,
    parse_secrets,
    public_view,
    rclone_env,
    rclone_mount_command,
)


@dataclass
class MountEntry:
    spec: MountSpec
    secrets: Secrets = field(default_factory=Secrets)
    state: str = health.UNMOUNTED
    message: str = ""
    changed_at: float = field(default_factory=time.time)
    process: MountProcess | None = None
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def set(self, state: str, message: str = "") -> None:
        self.state, self.message, self.changed_at = state, message, time.time()


_SETTLE_SECONDS = 0.5


class ImagineMountManager(LoggingConfigurable):
    """Mounts remote storage (WebDAV, S3, OneData) under a directory of the user's home.

    Secrets are kept in this process's memory only: saved definitions hold none, so after a
    server restart mounts that need a password report ``credentials-required``.
    """

    root = Unicode(
        "~/data",
        config=True,
        help="Directory under which mounts appear, one sub-directory per mount (`~` expands).",
    )
    definitions_file = Unicode(
        config=True,
        help="""JSON file where the user's mount definitions are saved (mode 0600, no secrets).
        Default: `<jupyter data dir>/jupyterhub_imagine/mounts.json`.""",
    )
    predefined = List(
        Dict(),
        config=True,
        help="""Mounts the admin defines for every user, e.g.
        `[{"name": "b2drop", "backend": "webdav", "preset": "b2drop", "auth": "oidc",
        "automount": true}]`. Same fields as a create request, without secrets (use
        `auth: "oidc"`, or let users enter a password at remount). Default: the JSON list in
        $JUPYTERHUB_IMAGINE_MOUNTS, so the hub can set it per spawner.""",
    )
    rclone_command = Unicode("rclone", config=True, help="The rclone program (name or path).")
    rclone_mount_args = List(
        Unicode(),
        default_value=[
            "--vfs-cache-mode",
            "writes",
            "--vfs-write-back",
            "1s",
            "--dir-cache-time",
            "10s",
            "--contimeout",
            "10s",
            "--low-level-retries",
            "2",
            "--umask",
            "077",
        ],
        config=True,
        help="""Options added to every `rclone mount`. A short --dir-cache-time lets the
        health check notice a dead remote; --umask 077 keeps mounted files private.""",
    )
    oneclient_command = Unicode(
        "oneclient", config=True, help="The OneData client program (name or path)."
    )
    fusermount_command = Unicode(
        "", config=True, help="FUSE unmount helper; empty: fusermount3, else fusermount."
    )
    mount_timeout = Float(30.0, config=True, help="Seconds to wait for a mount to be ready.")
    probe_timeout = Float(5.0, config=True, help="Seconds a health check may take per mount.")
    max_mounts = Int(20, config=True, help="Most mounts one user may define.")
    insecure_http_hosts = List(
        Unicode(),
        help="""Hosts that storage URLs may reach over plain http:// (set by the extension from
        ImagineServerExtension.insecure_http_hosts; every other URL must be https://).""",
    )
    cache_root = Unicode(
        config=True,
        help="""Directory of the mounts' write caches, one sub-directory per user and mount name
        (never derived from a secret), so writes not uploaded when a mount stops are uploaded
        by its next mount. Default: `$XDG_CACHE_HOME/jupyterhub_imagine/mounts`.""",
    )
    flush_timeout = Float(
        10.0,
        config=True,
        help="""Seconds an unmount or delete waits for writes still being uploaded before it
        refuses (409, naming the files) unless asked to force.""",
    )
    access_token_file = Unicode(
        config=True,
        help="""File holding the user's current OIDC access token, for `auth: "oidc"` mounts
        (read at each mount, so a remount uses a fresh token). Default:
        $IMAGINE_ACCESS_TOKEN_FILE, set by the hub when it provides the token.""",
    )
    runtime_dir = Unicode(
        config=True,
        help="Directory for the private (0700) folder holding mount logs; default: Jupyter's.",
    )

    @default("definitions_file")
    def _definitions_default(self) -> str:
        return os.path.join(jupyter_data_dir(), "jupyterhub_imagine", "mounts.json")

    @default("predefined")
    def _predefined_default(self) -> list[dict[str, Any]]:
        raw = os.environ.get("JUPYTERHUB_IMAGINE_MOUNTS", "")
        try:
            value = json.loads(raw) if raw else []
        except ValueError:
            self.log.error("JUPYTERHUB_IMAGINE_MOUNTS is not valid JSON; ignoring it")
            return []
        return value if isinstance(value, list) else []

    @default("cache_root")
    def _cache_root_default(self) -> str:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        return os.path.join(base, "jupyterhub_imagine", "mounts")

    @default("access_token_file")
    def _token_file_default(self) -> str:
        return os.environ.get("IMAGINE_ACCESS_TOKEN_FILE", "")

    @default("runtime_dir")
    def _runtime_default(self) -> str:
        return jupyter_runtime_dir()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._entries: dict[str, MountEntry] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._probes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="imagine-mount-probe")
        # cache scans and folder checks: never queued behind probes stuck on a frozen mount
        self._files = ThreadPoolExecutor(max_workers=2, thread_name_prefix="imagine-mount-files")
        self._private_dir = ""
        self._stopped = False

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Load predefined and saved mounts; mount those that need no typed secret.

        First detach FUSE mounts left under the root by a server that was killed."""
        fusermount = fusermount_program(self.fusermount_command)
        for point in unmount_orphans(self._root(), fusermount, child_env()):
            self.log.warning("mount: detached %s, left by an earlier server", point)
        # a stop that skips the extension's stop (SIGINT ends jupyter-server's loop with
        # KeyboardInterrupt, without its clean-up) still leaves no mount behind
        atexit.register(self._detach_at_exit, fusermount)
        for item in self.predefined:
            try:
                spec = parse_predefined(item)
            except UserError as e:
                self.log.error("ImagineMountManager.predefined: skipping an entry: %s", e.message)
                continue
            self._entries[spec.name] = MountEntry(spec)
        for spec in self._load():
            if spec.name not in self._entries:
                self._entries[spec.name] = MountEntry(spec)
        for entry in self._entries.values():
            if entry.spec.needs_secret:
                entry.set(health.CREDENTIALS_REQUIRED, "Enter the password to mount.")
            elif entry.spec.automount:
                # the event loop is not running yet while extensions load
                IOLoop.current().add_callback(self._schedule, entry)

    def _detach_at_exit(self, fusermount: str | None) -> None:
        if self._stopped:
            return
        for point in unmount_orphans(self._root(), fusermount, child_env()):
            self.log.warning("mount: detached %s at exit (the server stopped abruptly)", point)

    async def stop_all(self) -> None:
        """Unmount everything (the server is stopping)."""
        self._stopped = True
        for entry in list(self._entries.values()):
            await self._stop_entry(entry)
            pending = await self._pending(entry.spec.name)
            if pending:
                self.log.warning(
                    "mount %s: %d file(s) not uploaded yet stay in its cache and upload at its "
                    "next mount",
                    entry.spec.name,
                    len(pending),
                )
        self._probes.shutdown(wait=False, cancel_futures=True)
        self._files.shutdown(wait=False, cancel_futures=True)
        if self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)

    # ---- API operations --------------------------------------------------------------------

    async def list_mounts(self) -> list[dict[str, Any]]:
        entries = list(self._entries.values())
        return list(await asyncio.gather(*(self._view(e, probe=True) for e in entries)))

    async def get(self, name: str) -> dict[str, Any]:
        return await self._view(self._entry(name), probe=True)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        spec, secrets = parse_request(body, insecure_http_hosts=list(self.insecure_http_hosts))
        async with self._locked(spec.name):
            if spec.name in self._entries:
                raise UserError(f"a mount named {spec.name!r} already exists", "exists", status=409)
            if len(self._entries) >= self.max_mounts:
                raise UserError(
                    f"at most {self.max_mounts} mounts are allowed", "too-many", status=409
                )
            mountpoint = self._mountpoint(spec.name)  # refuse a point that escapes the root
            problem = await self._io(_mountpoint_problem, mountpoint)
            if problem:
                raise UserError(self._shown(spec.name, problem), "mountpoint-in-use", status=409)
            self._require_program(spec)
            entry = MountEntry(replace(spec, automount=True), secrets)
            self._entries[spec.name] = entry
            self._save()
            self.log.info("mount %s: created (%s)", spec.name, spec.backend)
            self._schedule(entry)
            return await self._view(entry)

    async def remount(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._locked(name):
            entry = self._entry(name)
            new = parse_secrets(entry.spec, body)
            if new.values:
                entry.secrets = new
            if entry.spec.needs_secret and not entry.secrets.values:
                raise UserError(
                    "this mount needs its password (or secret key) again: send it in the "
                    "remount body",
                    "missing-secret",
                    status=409,
                )
            self._require_program(entry.spec)
            await self._stop_entry(entry)
            entry.spec = replace(entry.spec, automount=True)
            self._save()
            self._schedule(entry)
            return await self._view(entry)

    async def unmount(self, name: str, *, force: bool = False) -> dict[str, Any]:
        """Unmount after pending writes are uploaded; with ``force``, leave those that are not
        in the mount's cache (they upload when the mount is made again)."""
        async with self._locked(name):
            entry = self._entry(name)
            pending = await self._flush(entry)
            if pending and not force:
                raise self._pending_error(name, pending, "unmount")
            await self._stop_entry(entry)
            entry.spec = replace(entry.spec, automount=False)
            message = ""
            if pending:
                message = (
                    f"{len(pending)} file(s) not uploaded yet ({describe(pending)}) stay in "
                    "this mount's cache and upload when it is mounted again."
                )
            entry.set(health.UNMOUNTED, message)
            self._save()
            view = await self._view(entry)
            return {**view, "pending_uploads": pending}

    async def delete(self, name: str, *, force: bool = False) -> list[str]:
        """Forget a mount; the files not uploaded yet that ``force`` discarded are returned."""
        async with self._locked(name):
            entry = self._entry(name)
            if entry.spec.predefined:
                raise UserError(
                    f"{name!r} is predefined by the administrator: unmount it instead",
                    "predefined",
                    status=409,
                )
            mountpoint = self._mountpoint(name)  # a swapped mount point: refuse, keep the record
            pending = await self._flush(entry)
            if pending and not force:
                raise self._pending_error(name, pending, "delete")
            await self._stop_entry(entry)
            del self._entries[name]
            self._save()
            with contextlib.suppress(OSError):
                os.rmdir(mountpoint)
            await self._io(shutil.rmtree, self._cache(name), True)
            if pending:
                self.log.warning("mount %s: deleted, discarding %d file(s)", name, len(pending))
            self.log.info("mount %s: deleted", name)
            return pending

    # ---- internals -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[None]:
        """One operation at a time per mount name (the lock lives while someone uses it)."""
        check_name(name)
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    async def _io(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._files, func, *args)

    def _shown(self, name: str, problem: str) -> str:
        return f"the folder {os.path.join(self.root, name)} {problem}"

    def _cache(self, name: str) -> str:
        user = os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
        return cache_folder(os.path.expanduser(self.cache_root), user, name)

    async def _pending(self, name: str) -> list[str]:
        return await self._io(pending_uploads, self._cache(name))  # type: ignore[no-any-return]

    async def _flush(self, entry: MountEntry) -> list[str]:
        """Files written through the mount and not uploaded yet, after waiting up to
        ``flush_timeout`` for a running mount program to upload them."""
        pending = await self._pending(entry.spec.name)
        loop = asyncio.get_running_loop()
        # a file just closed is recorded in the cache only when FUSE delivers its release,
        # which close() does not wait for: a live mount is watched for a moment even when
        # nothing is pending yet
        settled = loop.time() + _SETTLE_SECONDS
        deadline = loop.time() + max(self.flush_timeout, _SETTLE_SECONDS)
        process = entry.process
        while process is not None and process.returncode is None and loop.time() < deadline:
            if not pending and loop.time() >= settled:
                break
            await asyncio.sleep(0.1)  # rclone uploads in the background; poll its cache
            pending = await self._pending(entry.spec.name)
        return pending

    def _pending_error(self, name: str, pending: list[str], action: str) -> UserError:
        if action == "delete":
            what = "use ?force=true to delete the mount and discard them"
        else:
            what = (
                "use ?force=true to unmount anyway: they stay in this mount's cache and upload "
                "when it is mounted again"
            )
        return UserError(
            f"{len(pending)} file(s) written to {name!r} are not uploaded yet: "
            f"{describe(pending)}. Check that the storage answers and wait, or {what}.",
            "pending-writes",
            status=409,
            details={"pending_uploads": pending},
        )

    def _entry(self, name: str) -> MountEntry:
        check_name(name)
        entry = self._entries.get(name)
        if entry is None:
            raise NotFound(f"there is no mount named {name!r}")
        return entry

    def _root(self) -> str:
        return os.path.realpath(os.path.expanduser(self.root))

    def _mountpoint(self, name: str) -> str:
        root = self._root()
        path = os.path.join(root, check_name(name))
        if os.path.islink(path) or os.path.dirname(os.path.realpath(path)) != root:
            raise UserError(
                f"the mount point {os.path.join(self.root, name)} is a symbolic link or leads "
                f"outside {self.root}: remove or rename it, then try again",
                "path-escape",
                status=409,
            )
        return path

    def _require_program(self, spec: MountSpec) -> None:
        program = self.oneclient_command if spec.backend == "onedata" else self.rclone_command
        if shutil.which(program) is None:
            what = "OneData client 'oneclient'" if spec.backend == "onedata" else "'rclone'"
            raise UserError(
                f"{spec.backend} mounts need the {what}, which is not installed in this "
                "server's image; ask your administrator for an image that includes it",
                "client-missing",
                status=501,
            )

    def _access_token(self) -> str:
        path = self.access_token_file
        if not path:
            raise MountFailed("the hub provides no access token to this server; use a password")
        try:
            with open(path) as f:
                token = f.read().strip()
        except OSError:
            raise MountFailed("the access token file from the hub cannot be read") from None
        if not token:
            raise MountFailed("the access token from the hub is empty; log in again")
        return token

    def _private(self) -> str:
        if not self._private_dir or not os.path.isdir(self._private_dir):
            os.makedirs(self.runtime_dir, exist_ok=True)
            self._private_dir = tempfile.mkdtemp(prefix="imagine-mounts-", dir=self.runtime_dir)
        return self._private_dir

    async def _command(self, entry: MountEntry, mountpoint: str) -> tuple[Command, list[str]]:
        """The command for this mount and every secret value it carries (for scrubbing)."""
        spec, secrets = entry.spec, entry.secrets
        token = self._access_token() if spec.auth == "oidc" else ""
        if spec.backend == "onedata":
            secret = token or secrets.values.get("token", "")
            return oneclient_command(
                spec, mountpoint, oneclient=self.oneclient_command, token=secret
            ), [secret]
        password = secrets.values.get("password", "")
        obscured = await obscure(self.rclone_command, password) if password else ""
        env = rclone_env(spec, secrets, obscured=obscured, bearer=token)
        cache = self._cache(spec.name)
        os.makedirs(cache, mode=0o700, exist_ok=True)
        command = rclone_mount_command(
            spec,
            mountpoint,
            rclone=self.rclone_command,
            extra_args=[*self.rclone_mount_args, "--cache-dir", cache],
            env=env,
        )
        return command, [*secrets.all(), obscured, token]

    def _schedule(self, entry: MountEntry) -> None:
        if self._stopped or self._entries.get(entry.spec.name) is not entry:
            return  # the server is stopping, or the mount was deleted meanwhile
        entry.set(health.MOUNTING, "Starting the mount program.")
        entry.task = asyncio.ensure_future(self._mount(entry))

    async def _mount(self, entry: MountEntry) -> None:
        name = entry.spec.name
        async with entry.lock:
            try:
                mountpoint = self._mountpoint(name)
                command, secrets = await self._command(entry, mountpoint)
                loop = asyncio.get_running_loop()
                fusermount = fusermount_program(self.fusermount_command)
                if await loop.run_in_executor(self._probes, is_stale, mountpoint):
                    await lazy_unmount(mountpoint, fusermount)  # left over from a crash
                os.makedirs(mountpoint, mode=0o700, exist_ok=True)
                problem = await self._io(_mountpoint_problem, mountpoint)
                if problem:
                    raise MountFailed(self._shown(name, problem))
                process = MountProcess(
                    command,
                    mountpoint,
                    os.path.join(self._private(), f"{name}.log"),
                    secrets=secrets,
                    probes=self._probes,
                    fusermount=fusermount,
                )
                entry.set(health.MOUNTING, "Waiting for the storage to answer.")
                entry.process = process  # known before it is up, so a cancel can end it
                try:
                    await process.start(self.mount_timeout)
                except BaseException:
                    entry.process = None
                    await process.stop()
                    raise
                state, message = health.classify(await process.probe(self.probe_timeout))
            except (MountFailed, UserError, OSError) as e:
                message = getattr(e, "message", None) or str(e)
                entry.set(health.ERROR, f"Mounting failed: {message}")
                self.log.warning("mount %s: failed: %s", name, message)
                if entry.spec.automount and self._entries.get(name) is entry:
                    # not saved as a live mount: a restart does not retry it unasked
                    entry.spec = replace(entry.spec, automount=False)
                    self._save()
                return
            entry.set(state, message)
            self.log.info("mount %s: %s %s", name, state, message)

    async def _stop_entry(self, entry: MountEntry) -> None:
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entry.task
        async with entry.lock:
            if entry.process is not None:
                await entry.process.stop()
                entry.process = None

    async def _view(self, entry: MountEntry, probe: bool = False) -> dict[str, Any]:
        live = entry.state in (health.MOUNTED, health.UNHEALTHY)
        if probe and live and entry.process is not None:
            state, message = health.classify(await entry.process.probe(self.probe_timeout))
            if (state, message) != (entry.state, entry.message):
                self.log.info("mount %s: %s %s", entry.spec.name, state, message)
                entry.set(state, message)
        return {
            **public_view(entry.spec),
            "mountpoint": os.path.join(self.root, entry.spec.name),
            "state": entry.state,
            "message": entry.message,
            "changed_at": entry.changed_at,
            "has_secret": bool(entry.secrets.values),
        }

    def _load(self) -> list[MountSpec]:
        try:
            with open(self.definitions_file) as f:
                data = json.load(f)
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            self.log.error("cannot read %s: %s", self.definitions_file, e)
            return []
        specs = []
        for item in data.get("mounts", []) if isinstance(data, dict) else []:
            try:
                specs.append(MountSpec.from_dict({**item, "predefined": False}))
            except TypeError:
                self.log.warning("skipping a malformed saved mount in %s", self.definitions_file)
        return specs

    def _save(self) -> None:
        """Write the user's own definitions (never secrets) atomically, mode 0600."""
        mounts = [e.spec.to_dict() for e in self._entries.values() if not e.spec.predefined]
        folder = os.path.dirname(self.definitions_file)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mounts-")  # created 0600
        with os.fdopen(fd, "w") as f:
            json.dump({"version": 1, "mounts": mounts}, f, indent=1)
        os.replace(tmp, self.definitions_file)


def _mountpoint_problem(path: str) -> str:
    """Why a mount may not be made at ``path`` (empty: it may): mounting over files would
    hide them while mounted."""
    try:
        if os.path.ismount(path):
            return ""  # a mount left over from a crash: detached before mounting
        if not os.path.lexists(path):
            return ""
        if not os.path.isdir(path) or os.path.islink(path):
            return "exists and is not a folder: rename or remove it, or choose another name"
        with os.scandir(path) as entries:
            if next(entries, None) is not None:
                return (
                    "already exists and is not empty: mounting there would hide its files. "
                    "Move them away, or choose another name"
                )
    except OSError as e:
        return f"cannot be checked ({e.strerror})"
    return ""
