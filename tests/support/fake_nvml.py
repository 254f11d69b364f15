"""A FAKE of the `pynvml` module (nvidia-ml-py): no GPU exists on the test machines.

It implements the subset of NVML calls the bundle uses, with devices described in a JSON file named
by $IMAGINE_FAKE_NVML, re-read at every ``nvmlInit`` so a test can change the numbers while a
server runs. Without the variable it behaves like a machine without an NVIDIA driver.

GPM (MIG activity on Hopper and newer) is faked too: a GPU with ``"gpm": true`` supports it, a
sample of a MIG instance records the instance's ``utilization`` at that moment (one with
``"gpm_error": true`` fails), and the metric between two samples is the second one's value.
``live_gpm_samples()`` counts samples not freed.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

_state: dict[str, Any] = {"devices": []}
_gpm_live: set[int] = set()

NVML_SUCCESS = 0
NVML_GPM_METRICS_GET_VERSION = 1
NVML_GPM_METRIC_GRAPHICS_UTIL = 1


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


def nvmlDeviceGetGpuInstanceId(mig: dict[str, Any]) -> int:
    return int(mig["gi"])


def nvmlGpmQueryDeviceSupport(handle: dict[str, Any]) -> Any:
    return SimpleNamespace(version=1, isSupportedDevice=1 if handle.get("gpm") else 0)


def nvmlGpmSampleAlloc() -> dict[str, Any]:
    sample: dict[str, Any] = {}
    _gpm_live.add(id(sample))
    return sample


def nvmlGpmSampleFree(sample: dict[str, Any]) -> None:
    _gpm_live.discard(id(sample))


def nvmlGpmMigSampleGet(handle: dict[str, Any], gi: int, sample: dict[str, Any]) -> Any:
    if not handle.get("gpm"):
        raise NVMLError("Not Supported")
    for mig in handle.get("mig") or []:
        if mig["gi"] == gi:
            if mig.get("gpm_error"):
                raise NVMLError("Unknown Error")
            sample["utilization"] = mig.get("utilization")
            return sample
    raise NVMLError("Not Found")


class c_nvmlGpmMetricsGet_t:  # noqa: N801 (the binding's name)
    def __init__(self) -> None:
        self.version = 0
        self.numMetrics = 0
        self.sample1: dict[str, Any] | None = None
        self.sample2: dict[str, Any] | None = None
        self.metrics = [SimpleNamespace(metricId=0, nvmlReturn=0, value=0.0) for _ in range(4)]


def nvmlGpmMetricsGet(request: c_nvmlGpmMetricsGet_t) -> c_nvmlGpmMetricsGet_t:
    samples = (request.sample1, request.sample2)
    if request.version != NVML_GPM_METRICS_GET_VERSION or None in samples:
        raise NVMLError("Invalid Argument")
    assert request.sample2 is not None
    for metric in request.metrics[: request.numMetrics]:
        value = request.sample2.get("utilization")
        if metric.metricId != NVML_GPM_METRIC_GRAPHICS_UTIL or value is None:
            metric.nvmlReturn = 3  # NVML_ERROR_NOT_SUPPORTED
        else:
            metric.nvmlReturn, metric.value = NVML_SUCCESS, float(value)
    return request


def live_gpm_samples() -> int:
    return len(_gpm_live)


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
                "gi": i + 1,
            }
            for i, s in enumerate(slices)
        ],
    )


def mig_h100(uuid: str, utilizations: list[float | None]) -> dict[str, Any]:
    """An H100 split into 1g.10gb instances, with GPM, each busy at the given percentage."""
    return dict(
        name="NVIDIA H100 80GB HBM3",
        memory_total=80 * 2**30,
        uuid=uuid,
        gpm=True,
        mig=[
            {
                "uuid": f"MIG-{uuid}-{i}",
                "name": "NVIDIA H100 80GB HBM3 MIG 1g.10gb",
                "memory_total": 10 * 2**30,
                "memory_used": 2**20,
                "gi": i + 1,
                "utilization": value,
            }
            for i, value in enumerate(utilizations)
        ],
    )
