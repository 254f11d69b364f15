"""Profiles derived from the GPUs NVML finds on this machine (pure).

A MIG slice's profile says how its activity is measured: NVML has no utilization counter for a
MIG instance, so the bundle measures one through GPM on Hopper and newer GPUs
(``gpu/gpm.py``); on older GPUs (A100, A30) the slice's activity is unknown to the server
endpoint and the idle culler needs DCGM through Prometheus to see it.
"""

from __future__ import annotations

from collections import Counter

from ..gpu.nvml import GPUDevice
from .profiles import GPURequest, Profile, slugify

CPU_PROFILE = Profile(
    slug="cpu",
    display_name="CPU only",
    description="No GPU. For preprocessing, analysis and writing.",
    default=True,
)


def _mig_name(instance_name: str) -> str:
    """'NVIDIA A100-SXM4-40GB MIG 1g.5gb' -> '1g.5gb'."""
    return instance_name.rsplit(" ", 1)[-1]


def derive_profiles(devices: list[GPUDevice], requires: list[str]) -> list[Profile]:
    """A CPU profile, then 1 and (where there are two) 2 GPUs of each model, then MIG slices."""
    profiles = [CPU_PROFILE]
    full = Counter(d.name for d in devices if not d.mig)
    for name, count in sorted(full.items()):
        for n in (1, 2):
            if n > count:
                continue
            profiles.append(
                Profile(
                    slug=slugify(f"gpu{n if n > 1 else ''}-{name}"),
                    display_name=f"{n} × {name}",
                    description=f"{n} full GPU{'s' if n > 1 else ''} ({name}).",
                    gpu=GPURequest(count=n, type=name),
                    requires=tuple(requires),
                )
            )
    slices = Counter(_mig_name(m.name) for d in devices for m in d.mig)
    for name in sorted(slices):
        profiles.append(
            Profile(
                slug=slugify(f"mig-{name}"),
                display_name=f"MIG slice {name}",
                description=(
                    "A slice of a GPU with its own memory. Its activity is measured on Hopper "
                    "and newer GPUs only."
                ),
                gpu=GPURequest(count=1, mig=f"nvidia.com/mig-{name}"),
                requires=tuple(requires),
            )
        )
    return profiles


def candidates_for(gpu: GPURequest, devices: list[GPUDevice]) -> list[str]:
    """UUIDs of the devices (or MIG instances) that can serve ``gpu``."""
    if gpu.mig:
        wanted = gpu.mig.removeprefix("nvidia.com/mig-")
        return [m.uuid for d in devices for m in d.mig if _mig_name(m.name) == wanted]
    return [d.uuid for d in devices if not d.mig and (not gpu.type or d.name == gpu.type)]
