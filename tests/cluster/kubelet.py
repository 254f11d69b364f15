"""FAKE kubelet: runs each pod's container as a local process.

No container runtime runs here. For a pod scheduled on a node, the kubelet:

* gives the pod a loopback address of its own (``network.Network.pod_ip``);
* lays out a per-pod root directory that stands for the container's file system: the
  container path ``/x/y`` is ``<pod root>/x/y``. Secret, ConfigMap and emptyDir volumes are
  written at ``<pod root>/<mountPath>`` (Secret files with the volume's ``defaultMode``; a
  replaced Secret rewrites the files, as the kubelet refreshes whole-volume mounts). Other
  volumes (PVCs, host paths) are empty directories. Environment values, arguments and the
  working directory that name a path under a mount or under the image's working directory
  are rewritten to the same path under the pod root (the one change processes see);
* runs the container's ``command`` (else the image's, see ``IMAGES``) and ``args`` with this
  environment's executables, in its own process group, with the pod's ``env`` and no other
  variable of the test process than ``PATH``/``PYTHONPATH``/``LANG``;
* rewrites a bind to 0.0.0.0 (``--ip=0.0.0.0``, the host of $JUPYTERHUB_SERVICE_URL) to the
  pod's address: in its own network namespace a pod owns all addresses;
* stands in for the NVIDIA container toolkit on GPU nodes: a container with
  ``nvidia.com/gpu`` (or MIG) limits gets a FAKE NVML (``tests.support.fake_nvml``) through
  ``--ImagineServerExtension.nvml_module``, reading its devices from ``<pod root>/nvml.json``
  that the test rewrites to make the GPU busy or idle;
* reports Running once the container port answers, Failed when the process exits on its
  own, and on delete sends SIGTERM to the process group, then SIGKILL after the grace period.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import fake_nvml

from .network import bind_in_pod, wait_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# FAKE image registry: what each image would run and where (helm/images/user/Dockerfile builds
# on Jupyter's docker-stacks: WORKDIR /home/jovyan; its entrypoint, tini and start.sh, runs its
# arguments, so it is left out here).
DEFAULT_IMAGE = {"entrypoint": [], "cmd": ["start-notebook.py"], "working_dir": "/home/jovyan"}
IMAGES: dict[str, dict[str, Any]] = {}
FAKE_NVML_ARGS = [
    "--ImagineServerExtension.nvml_module=tests.support.fake_nvml",
    "--ImagineServerExtension.gpu_cache_seconds=0",
]
KEPT_ENV = ("LANG", "LC_ALL", "TZ")


def container_argv(container: dict[str, Any], image: dict[str, Any]) -> list[str]:
    """What the container runtime runs: command (else the image's entrypoint) and args (else
    the image's cmd, unless a command was given)."""
    command = container.get("command")
    args = container.get("args")
    if command:
        return [*command, *(args or [])]
    return [*image["entrypoint"], *(args if args else image["cmd"])]


def gpu_count(container: dict[str, Any]) -> int:
    limits = (container.get("resources") or {}).get("limits") or {}
    return sum(int(v) for k, v in limits.items() if k.startswith("nvidia.com/"))


@dataclass
class PodProcess:
    """One running container: its process, root, address and mounts."""

    key: str
    ip: str
    root: Path
    proc: subprocess.Popen[bytes]
    port: int
    mounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # mountPath -> volume
    nvml: Path | None = None

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    @property
    def log(self) -> str:
        log = self.root / "container.log"
        return log.read_text(errors="replace") if log.exists() else ""


def _volume_files(volume: dict[str, Any], objects: dict[str, dict[str, Any]], ns: str
                  ) -> tuple[dict[str, bytes], int] | None:
    """Files of a Secret or ConfigMap volume (None: another kind of volume)."""
    if "secret" in volume:
        src = volume["secret"]
        obj = objects["secrets"].get(f"{ns}/{src['secretName']}") or {}
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
        return data, int(src.get("defaultMode", 0o644))
    if "configMap" in volume:
        src = volume["configMap"]
        obj = objects["configmaps"].get(f"{ns}/{src['name']}") or {}
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        return data, int(src.get("defaultMode", 0o644))
    return None


def write_volume(target: Path, volume: dict[str, Any], objects: dict[str, dict[str, Any]],
                 ns: str) -> None:
    """(Re)write a volume's files at ``target``."""
    files = _volume_files(volume, objects, ns)
    if files is None:
        target.mkdir(parents=True, exist_ok=True)
        return
    data, mode = files
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name, content in data.items():
        path = target / name
        path.write_bytes(content)
        path.chmod(mode)


class Kubelet:
    """Runs pods as processes under ``base``; one instance per emulated cluster."""

    def __init__(self, base: Path, objects: dict[str, dict[str, Any]]) -> None:
        self.base = base
        self.objects = objects
        self.pods: dict[str, PodProcess] = {}

    # ----- starting ----------------------------------------------------------------------------
    def start(self, pod: dict[str, Any], ip: str) -> PodProcess:
        meta, spec = pod["metadata"], pod["spec"]
        key = f"{meta['namespace']}/{meta['name']}"
        (container,) = spec["containers"]
        image = IMAGES.get(container.get("image", ""), DEFAULT_IMAGE)
        root = self.base / meta["namespace"] / f"{meta['name']}-{meta['uid'][:8]}"
        root.mkdir(parents=True)
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        mounts = {m["mountPath"]: volumes.get(m["name"], {"name": m["name"]})
                  for m in container.get("volumeMounts") or []}
        for mount_path, volume in mounts.items():
            write_volume(root / mount_path.lstrip("/"), volume, self.objects, meta["namespace"])
        workdir = container.get("workingDir") or image["working_dir"]
        (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        prefixes = sorted([*mounts, workdir], key=len, reverse=True)

        def in_pod(value: str) -> str:
            for prefix in prefixes:
                if value == prefix or value.startswith(prefix.rstrip("/") + "/"):
                    return str(root) + value
            return value

        env = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
        env.update(PATH=f"{VENV_BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
                   PYTHONPATH=str(REPO), HOME=in_pod(workdir))
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = in_pod(str(item["value"]))
        if "JUPYTERHUB_SERVICE_URL" in env:
            env["JUPYTERHUB_SERVICE_URL"] = bind_in_pod(env["JUPYTERHUB_SERVICE_URL"], ip)
        argv = [in_pod(a) for a in container_argv(container, image)]
        argv = [f"--ip={ip}" if a in ("--ip=0.0.0.0", "--ip=") else a for a in argv]
        singleuser = Path(argv[0]).name == "jupyterhub-singleuser"
        nvml = None
        if gpu_count(container):
            nvml = root / "nvml.json"
            fake_nvml.write_state(str(nvml), [fake_nvml.a100(f"GPU-{meta['uid'][:8]}-{i}")
                                              for i in range(gpu_count(container))])
            env["IMAGINE_FAKE_NVML"] = str(nvml)
            argv += FAKE_NVML_ARGS if singleuser else []
        if singleuser and os.geteuid() == 0:
            argv.append("--allow-root")  # the real pod runs as jovyan; here we may be root
        executable = shutil.which(argv[0], path=env["PATH"]) or argv[0]
        port = next((p["containerPort"] for p in container.get("ports") or []), 8888)
        with open(root / "container.log", "wb") as log:
            proc = subprocess.Popen(
                [executable, *argv[1:]], cwd=in_pod(workdir), env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        running = PodProcess(key, ip, root, proc, int(port), mounts, nvml)
        self.pods[key] = running
        return running

    async def wait_started(self, running: PodProcess, timeout: float = 90.0) -> int | None:
        """None once the container port answers; the exit code if the process ended first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if running.proc.poll() is not None:
                return running.proc.returncode
            if await wait_port(running.ip, running.port, 0.5):
                return None
        return -1

    def refresh_secret(self, namespace: str, name: str) -> None:
        """Rewrite the files of every mount of this Secret, as a kubelet sync does."""
        for running in self.pods.values():
            if not running.key.startswith(f"{namespace}/"):
                continue
            for mount_path, volume in running.mounts.items():
                if (volume.get("secret") or {}).get("secretName") == name:
                    write_volume(running.path(mount_path), volume, self.objects, namespace)

    # ----- stopping ----------------------------------------------------------------------------
    async def kill(self, key: str, grace: float) -> PodProcess | None:
        """SIGTERM the pod's process group, SIGKILL it after ``grace`` seconds."""
        running = self.pods.pop(key, None)
        if running is None:
            return None
        await asyncio.to_thread(stop_group, running.proc, grace)
        return running

    def kill_all(self) -> None:
        for key in list(self.pods):
            stop_group(self.pods.pop(key).proc, 5.0)


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """End a process started with a session of its own, and everything in its group."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.wait(10)
    try:  # children that left the group's leader behind
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
