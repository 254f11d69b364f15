"""ImagineMountManager: the user's data mounts (definitions, secrets in memory, processes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir
from tornado.ioloop import IOLoop
from traitlets import Bool, Dict, Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from ..validation import NotFound, UserError, check_name
from . import health
from .process import (
    MountFailed,
    MountProcess,
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
    allow_http = Bool(
        False,
        config=True,
        help="Allow plain http:// storage URLs (loopback URLs are always allowed).",
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

    @default("access_token_file")
    def _token_file_default(self) -> str:
        return os.environ.get("IMAGINE_ACCESS_TOKEN_FILE", "")

    @default("runtime_dir")
    def _runtime_default(self) -> str:
        return jupyter_runtime_dir()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._entries: dict[str, MountEntry] = {}
        self._probes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="imagine-mount-probe")
        self._private_dir = ""
        self._stopped = False

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Load predefined and saved mounts; mount those that need no typed secret."""
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

    async def stop_all(self) -> None:
        """Unmount everything (the server is stopping)."""
        self._stopped = True
        for entry in list(self._entries.values()):
            await self._stop_entry(entry)
        self._probes.shutdown(wait=False, cancel_futures=True)
        if self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)

    # ---- API operations --------------------------------------------------------------------

    async def list_mounts(self) -> list[dict[str, Any]]:
        entries = list(self._entries.values())
        return list(await asyncio.gather(*(self._view(e, probe=True) for e in entries)))

    async def get(self, name: str) -> dict[str, Any]:
        return await self._view(self._entry(name), probe=True)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        spec, secrets = parse_request(body, allow_http=self.allow_http)
        if spec.name in self._entries:
            raise UserError(f"a mount named {spec.name!r} already exists", "exists", status=409)
        if len(self._entries) >= self.max_mounts:
            raise UserError(f"at most {self.max_mounts} mounts are allowed", "too-many", status=409)
        self._mountpoint(spec.name)  # refuse a name whose mount point escapes the root
        self._require_program(spec)
        entry = MountEntry(replace(spec, automount=True), secrets)
        self._entries[spec.name] = entry
        self._save()
        self.log.info("mount %s: created (%s)", spec.name, spec.backend)
        self._schedule(entry)
        return await self._view(entry)

    async def remount(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        entry = self._entry(name)
        new = parse_secrets(entry.spec, body)
        if new.values:
            entry.secrets = new
        if entry.spec.needs_secret and not entry.secrets.values:
            raise UserError(
                "this mount needs its password (or secret key) again: send it in the remount body",
                "missing-secret",
                status=409,
            )
        self._require_program(entry.spec)
        await self._stop_entry(entry)
        entry.spec = replace(entry.spec, automount=True)
        self._save()
        self._schedule(entry)
        return await self._view(entry)

    async def unmount(self, name: str) -> dict[str, Any]:
        entry = self._entry(name)
        await self._stop_entry(entry)
        entry.spec = replace(entry.spec, automount=False)
        entry.set(health.UNMOUNTED)
        self._save()
        return await self._view(entry)

    async def delete(self, name: str) -> None:
        entry = self._entry(name)
        if entry.spec.predefined:
            raise UserError(
                f"{name!r} is predefined by the administrator: unmount it instead",
                "predefined",
                status=409,
            )
        await self._stop_entry(entry)
        del self._entries[name]
        self._save()
        with contextlib.suppress(OSError):
            os.rmdir(self._mountpoint(name))
        self.log.info("mount %s: deleted", name)

    # ---- internals -------------------------------------------------------------------------

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
            raise UserError(f"the mount point for {name!r} is outside {self.root}", "path-escape")
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
            # an empty rclone config: the remote is defined only by our environment variables
            os.close(os.open(os.path.join(self._private_dir, "rclone.conf"), os.O_CREAT, 0o600))
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
        env["RCLONE_CONFIG"] = os.path.join(self._private(), "rclone.conf")
        command = rclone_mount_command(
            spec,
            mountpoint,
            rclone=self.rclone_command,
            extra_args=list(self.rclone_mount_args),
            env=env,
        )
        return command, [*secrets.all(), obscured, token]

    def _schedule(self, entry: MountEntry) -> None:
        if self._stopped:
            return
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
