"""A FAKE of the `pynvml` module (nvidia-ml-py): no GPU exists on the test machines.

It implements the subset of NVML calls the bundle uses, with devices described in a JSON file named
by $IMAGINE_FAKE_NVML, re-read at every ``nvmlInit`` so a test can change the numbers while a
server runs. Without the variable it behaves like a machine without an NVIDIA driver.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

_state: dict[str, Any] = {"devices": []}


class NVMLError(Exception):
    pass


def write_state(path: str, devices: list[dict[str, Any]]) -> None:
    with open(path, "w") as f:
        json.dump({"devices": devices}, f)


def nvmlInit() -> None:
    path = os.environ.get("IMAGINE_FAKE_NVML")
    if not path or not os.path.exists(path):
        raise NVMLError("Driver Not Loaded")
    with open(path) as f:
        _state.update(json.load(f))


def nvmlShutdown() -> None:
    pass


def _reload() -> None:
    nvmlInit()


def nvmlDeviceGetCount() -> int:
    _reload()
    return len(_state["devices"])


def nvmlDeviceGetHandleByIndex(index: int) -> dict[str, Any]:
    return _state["devices"][index]


def nvmlDeviceGetUUID(handle: dict[str, Any]) -> str:
    return handle["uuid"]


def nvmlDeviceGetName(handle: dict[str, Any]) -> str:
    return handle["name"]


def nvmlDeviceGetMemoryInfo(handle: dict[str, Any]) -> Any:
    return SimpleNamespace(total=handle["memory_total"], used=handle.get("memory_used", 0))


def nvmlDeviceGetUtilizationRates(handle: dict[str, Any]) -> Any:
    if handle.get("mig") or handle.get("utilization") is None:
        raise NVMLError("Not Supported")
    return SimpleNamespace(gpu=handle["utilization"], memory=0)


def nvmlDeviceGetComputeRunningProcesses(handle: dict[str, Any]) -> list[Any]:
    return [
        SimpleNamespace(pid=p["pid"], usedGpuMemory=p["memory_used"])
        for p in handle.get("processes", [])
    ]


def nvmlDeviceGetMigMode(handle: dict[str, Any]) -> tuple[int, int]:
    if "mig" not in handle:
        raise NVMLError("Not Supported")
    return (1 if handle["mig"] else 0, 0)


def nvmlDeviceGetMaxMigDeviceCount(handle: dict[str, Any]) -> int:
    return 7


def nvmlDeviceGetMigDeviceHandleByIndex(handle: dict[str, Any], index: int) -> dict[str, Any]:
    instances = handle.get("mig") or []
    if index >= len(instances):
        raise NVMLError("Not Found")
    return instances[index]


A100 = {"name": "NVIDIA A100-SXM4-40GB", "memory_total": 40 * 2**30}


def a100(uuid: str, utilization: float = 0.0, memory_used: int = 0) -> dict[str, Any]:
    return dict(A100, uuid=uuid, utilization=utilization, memory_used=memory_used)


def mig_a100(uuid: str, slices: list[str]) -> dict[str, Any]:
    return dict(
        A100,
        uuid=uuid,
        mig=[
            {
                "uuid": f"MIG-{uuid}-{i}",
                "name": f"NVIDIA A100-SXM4-40GB MIG {s}",
                "memory_total": 5 * 2**30,
                "memory_used": 2**20,
            }
            for i, s in enumerate(slices)
        ],
    )
