"""What a spawner tells about the resources of a session (read-only use of its public API)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_MIG = re.compile(r"^nvidia\.com/mig-(?P<profile>[\w.]+)$")


@dataclass(frozen=True)
class Resources:
    profile: str = ""
    cpus: float = 0.0
    mem_bytes: int = 0
    gpus: float = 0.0
    gpu_type: str = ""
    mig: str = ""


def gpus_from_limits(limits: dict[str, Any]) -> tuple[float, str]:
    """GPU count and MIG profile from Kubernetes resource limits (``extra_resource_limits``)."""
    for name, value in (limits or {}).items():
        if value is None:
            continue
        if name == "nvidia.com/gpu":
            return float(value), ""
        match = _MIG.match(name)
        if match:
            return float(value), match["profile"]
    return 0.0, ""


async def resources(spawner: Any, default_cpus: float) -> Resources:
    """Profile, CPUs, memory and GPUs of ``spawner``'s session, as far as it says."""
    options = spawner.user_options or {}
    profile = str(options.get("profile") or "")
    gpus, gpu_type, mig = 0.0, "", ""
    resolve = getattr(spawner, "resolve_selection", None)
    if resolve is not None:
        try:
            selection = await resolve(options)
        except Exception:  # the spawn is refused anyway: the record says what was asked
            selection = None
        if selection is not None:
            profile = selection.profile.slug
            gpu = selection.profile.gpu
            gpus, gpu_type = float(gpu.count), gpu.type
            mig = gpu.mig.removeprefix("nvidia.com/mig-")
    if not gpus:
        gpus, mig = gpus_from_limits(getattr(spawner, "extra_resource_limits", None) or {})
    cpus = float(getattr(spawner, "cpu_limit", None) or default_cpus)
    mem = int(getattr(spawner, "mem_limit", None) or 0)
    return Resources(profile or "default", cpus, mem, gpus, gpu_type, mig)
