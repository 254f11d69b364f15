"""Kernelspecs that set up a stack, modules or an Apptainer image when the kernel starts.

The kernelspec's argv runs :mod:`.launcher` with argument lists only; the server never builds a
shell string from user input. Kernelspecs live in the user's Jupyter data directory, which Jupyter
re-reads on every listing, so a new kernel appears without a server restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from typing import Any

from ..validation import NotFound, UserError

LAUNCHER = "jupyterhub_imagine.serverext.software.launcher"
PREFIX = "imagine-"
KERNEL_NAME_RE = re.compile(r"imagine-[a-z0-9-]{1,80}")
METADATA_KEY = "jupyterhub_imagine"


def kernel_name(kind: str, ident: str, modules: list[str]) -> str:
    """A stable kernelspec name for this choice (pure)."""
    label = re.sub(r"[^a-z0-9]+", "-", f"{ident.rsplit('/', 2)[-1] if ident else ''}".lower())
    digest = hashlib.sha256(json.dumps([kind, ident, modules]).encode()).hexdigest()[:10]
    return f"{PREFIX}{kind}-{label.strip('-')[:40]}-{digest}".replace("--", "-")


def build_kernelspec(
    *,
    kind: str,
    ident: str,
    display_name: str,
    python: str,
    init: str = "",
    modules: list[str] | None = None,
    image: str = "",
    apptainer: str = "apptainer",
) -> dict[str, Any]:
    """The kernel.json content (pure). ``init``/``image`` are absolute paths under the root."""
    modules = modules or []
    argv = [python, "-m", LAUNCHER]
    if init:
        argv += ["--init", init]
    for module in modules:
        argv += ["--module", module]
    if image:
        argv += ["--image", image, "--apptainer", apptainer]
        kernel = ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    else:
        kernel = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return {
        "argv": [*argv, "--", *kernel],
        "display_name": display_name,
        "language": "python",
        "metadata": {METADATA_KEY: {"kind": kind, "id": ident, "modules": modules}},
    }


def write_kernelspec(kernels_dir: str, name: str, spec: dict[str, Any]) -> str:
    """Write ``<kernels_dir>/<name>/kernel.json``; returns the folder."""
    folder = os.path.join(kernels_dir, name)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, ".kernel.json.tmp")
    with open(tmp, "w") as f:
        json.dump(spec, f, indent=1)
    os.replace(tmp, os.path.join(folder, "kernel.json"))
    return folder


def list_kernelspecs(kernels_dir: str) -> list[dict[str, Any]]:
    """Kernelspecs this extension created."""
    found = []
    try:
        names = sorted(os.listdir(kernels_dir))
    except OSError:
        return []
    for name in names:
        if not KERNEL_NAME_RE.fullmatch(name):
            continue
        try:
            with open(os.path.join(kernels_dir, name, "kernel.json")) as f:
                spec = json.load(f)
        except (OSError, ValueError):
            continue
        meta = spec.get("metadata", {}).get(METADATA_KEY)
        if isinstance(meta, dict):
            found.append({"name": name, "display_name": spec.get("display_name", name), **meta})
    return found


def delete_kernelspec(kernels_dir: str, name: str) -> None:
    if not isinstance(name, str) or not KERNEL_NAME_RE.fullmatch(name):
        raise UserError("kernel names made here look like 'imagine-…'", "invalid-kernel-name")
    folder = os.path.join(kernels_dir, name)
    if not os.path.isfile(os.path.join(folder, "kernel.json")):
        raise NotFound(f"there is no kernel named {name!r}")
    shutil.rmtree(folder)
