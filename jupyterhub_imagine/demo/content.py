"""What the demo offers to look at: a CVMFS-shaped software tree, a WebDAV storage, a notebook.

All of it is laid out under the demo's state directory, so the Software panel lists a stack with
modules and an Apptainer image, the Data panel offers a storage that mounts at the first click,
and each user's home holds a notebook that "trains" on the (simulated) GPU.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from .oidc import terminate

CVMFS_REPO = "software.imagine.example"
STACK_VERSION = "2025.06"
MODULES = ("GCC/13.2.0", "Python/3.11.5", "SciPy-bundle/2023.11-gfbf", "PyTorch/2.1.2-CUDA-12.1")
IMAGE_REPO = "unpacked.imagine.example"
IMAGES = ("images/pytorch-2.1-cuda12.sif", "images/tensorflow-2.15-gpu.sif")

# The stack's init script, as a real stack's defines Lmod's `module`: loading one exports a
# variable, so a kernel can show what it loaded. Nothing else runs.
STACK_INIT = """\
export IMAGINE_STACK_VERSION=%(version)s
export IMAGINE_STACK_PREFIX="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module() {
  if [ "$1" = load ]; then
    shift
    for name in "$@"; do
      [ -e "$IMAGINE_STACK_PREFIX/software/linux/x86_64/generic/modules/all/$name.lua" ] || return 1
      export LOADEDMODULES="${LOADEDMODULES:+$LOADEDMODULES:}$name"
    done
  fi
}
"""

DATA_FILES = {
    "README.txt": "Demo storage: a WebDAV server on this machine, mounted with rclone.\n",
    "measurements.csv": "sample,temperature_K,signal\n1,4.2,0.113\n2,4.3,0.121\n3,4.1,0.108\n",
}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def lay_out_cvmfs(root: Path) -> Path:
    """A repository with one EESSI-shaped stack and its modules, one with Apptainer images."""
    stack = root / CVMFS_REPO / "versions" / STACK_VERSION
    _write(stack / "init" / "bash", STACK_INIT % {"version": STACK_VERSION})
    modules = stack / "software/linux/x86_64/generic/modules/all"
    for name in MODULES:
        _write(modules / f"{name}.lua", f"-- modulefile of {name} (demo)\n")
    for image in IMAGES:
        _write(root / IMAGE_REPO / image, "demo placeholder: not a real image\n")
    return root


def lay_out_storage(folder: Path) -> Path:
    for name, text in DATA_FILES.items():
        if not (folder / name).exists():
            _write(folder / name, text)
    return folder


NOTEBOOK_CELLS = [
    ("markdown", "# Train on the GPU\n\nRun the next cell: it keeps this server's GPU busy for "
     "about 30 seconds. Watch the GPU item in the status bar and the GPU panel (left sidebar). "
     "When it ends the GPU idles, and after a short while the idle-GPU culler warns you: answer "
     "**Keep my GPU** or **Save and stop**.\n\nIn the demo the GPUs are *simulated* when this "
     "machine has none."),
    ("code", "from jupyterhub_imagine.demo.training import train\n\ntrain(epochs=10)"),
]


def sample_notebook() -> str:
    cells: list[dict[str, Any]] = [
        {"id": f"demo-{i}", "cell_type": kind, "metadata": {}, "source": text,
         **({"outputs": [], "execution_count": None} if kind == "code" else {})}
        for i, (kind, text) in enumerate(NOTEBOOK_CELLS)
    ]
    kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return json.dumps({"cells": cells, "metadata": {"kernelspec": kernel},
                       "nbformat": 4, "nbformat_minor": 5}, indent=1)


def lay_out_homes(home_root: Path, users: list[str]) -> None:
    for user in users:
        path = home_root / user / "train-on-the-gpu.ipynb"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(sample_notebook())


class WebDAVStorage:
    """`rclone serve webdav` on loopback, started and stopped by the demo."""

    def __init__(self, folder: Path, port: int, log: Path) -> None:
        self.folder, self.port, self.log = folder, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 15.0) -> None:
        argv = ["rclone", "serve", "webdav", str(self.folder), "--addr", f"127.0.0.1:{self.port}"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rclone serve webdav exited; see {self.log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("rclone serve webdav did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 10)
            self.proc = None


def predefined_mounts(storage: WebDAVStorage) -> list[dict[str, object]]:
    """The demo storage as a mount every user is offered (no credentials: loopback only)."""
    return [{"name": "demo-storage", "backend": "webdav", "url": storage.url, "auth": "none"}]


def environment(state: Path, storage: WebDAVStorage | None) -> dict[str, str]:
    """Variables the hub config reads to offer the content."""
    env = {"IMAGINE_DEMO_CVMFS": str(state / "cvmfs")}
    if storage is not None:
        env["IMAGINE_DEMO_MOUNTS"] = json.dumps(predefined_mounts(storage))
    return env


def rclone_available() -> bool:
    return any(
        os.access(os.path.join(d, "rclone"), os.X_OK)
        for d in os.environ.get("PATH", "").split(os.pathsep)
    )
