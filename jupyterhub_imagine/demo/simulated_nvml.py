"""Simulated GPUs for the demo on a machine without one: an NVML-shaped module.

The demo hands this module to the spawner and the server extension through their ``nvml_module``
traits (the same injection point tests use for their fake), only when the machine has no GPU of
its own. Everything that reads it says "simulated" (``IMAGINE_SIMULATED``).

The machine it pretends to be: two A100s and an H100 split into three 1g.10gb MIG slices (with
GPM, so slices report activity). Utilization is what the demo's "training" drives
(``jupyterhub_imagine.demo.training``): it writes one small JSON file per busy device under
``$IMAGINE_SIMULATED_GPUS/load/``, refreshed while it runs; a device without a fresh file is
idle (0 %).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

IMAGINE_SIMULATED = True
STATE_ENV = "IMAGINE_SIMULATED_GPUS"

NVML_SUCCESS = 0
NVML_GPM_METRICS_GET_VERSION = 1
NVML_GPM_METRIC_GRAPHICS_UTIL = 1
GiB = 2**30


class NVMLError(Exception):
    pass


def _mig(parent: str, index: int) -> dict[str, Any]:
    return {
        "uuid": f"MIG-{parent}-{index}",
        "name": "NVIDIA H100 80GB HBM3 MIG 1g.10gb",
        "memory_total": 10 * GiB,
        "gi": index + 1,
    }


DEVICES: list[dict[str, Any]] = [
    {"uuid": "GPU-sim-a100-0", "name": "NVIDIA A100-SXM4-40GB", "memory_total": 40 * GiB},
    {"uuid": "GPU-sim-a100-1", "name": "NVIDIA A100-SXM4-40GB", "memory_total": 40 * GiB},
    {
        "uuid": "GPU-sim-h100-2",
        "name": "NVIDIA H100 80GB HBM3",
        "memory_total": 80 * GiB,
        "mig": [_mig("GPU-sim-h100-2", i) for i in range(3)],
    },
]


def load_dir() -> Path | None:
    root = os.environ.get(STATE_ENV)
    return Path(root) / "load" if root else None


def current_load(uuid: str, now: float | None = None) -> dict[str, Any] | None:
    """The training load written for ``uuid``, if still fresh."""
    folder = load_dir()
    if folder is None:
        return None
    try:
        load = json.loads((folder / f"{uuid}.json").read_text())
    except (OSError, ValueError):
        return None
    now = time.time() if now is None else now
    return load if float(load.get("until", 0)) > now else None


def _utilization(uuid: str) -> float:
    load = current_load(uuid)
    if load is None:
        return 0.0
    # a gentle wobble, so the chart visibly moves while "training" runs
    wobble = 6.0 * math.sin(time.time() / 2.0 + len(uuid))
    return max(1.0, min(100.0, float(load.get("utilization", 80)) + wobble))


def _memory_used(uuid: str, total: int) -> int:
    load = current_load(uuid)
    used = int(load.get("memory_used", total // 3)) if load else 0
    return min(total, used + 300 * 2**20)  # the driver's own share


# ----- the NVML calls the bundle uses ---------------------------------------------------------
def nvmlInit() -> None:  # noqa: N802 - the binding's names
    pass


def nvmlShutdown() -> None:  # noqa: N802
    pass


def nvmlDeviceGetCount() -> int:  # noqa: N802
    return len(DEVICES)


def nvmlDeviceGetHandleByIndex(index: int) -> dict[str, Any]:  # noqa: N802
    return DEVICES[index]


def nvmlDeviceGetUUID(handle: dict[str, Any]) -> str:  # noqa: N802
    return str(handle["uuid"])


def nvmlDeviceGetName(handle: dict[str, Any]) -> str:  # noqa: N802
    return str(handle["name"])


def nvmlDeviceGetMemoryInfo(handle: dict[str, Any]) -> Any:  # noqa: N802
    total = int(handle["memory_total"])
    if handle.get("mig"):
        used = sum(_memory_used(m["uuid"], m["memory_total"]) for m in handle["mig"])
    else:
        used = _memory_used(handle["uuid"], total)
    return SimpleNamespace(total=total, used=used, free=total - used)


def nvmlDeviceGetUtilizationRates(handle: dict[str, Any]) -> Any:  # noqa: N802
    if handle.get("mig"):
        raise NVMLError("Not Supported")
    return SimpleNamespace(gpu=_utilization(handle["uuid"]), memory=0)


def nvmlDeviceGetComputeRunningProcesses(handle: dict[str, Any]) -> list[Any]:  # noqa: N802
    uuids = [m["uuid"] for m in handle.get("mig") or []] or [handle["uuid"]]
    procs = []
    for uuid in uuids:
        load = current_load(uuid)
        if load and load.get("pid"):
            procs.append(SimpleNamespace(pid=int(load["pid"]),
                                         usedGpuMemory=int(load.get("memory_used", 0))))
    return procs


def nvmlDeviceGetMigMode(handle: dict[str, Any]) -> tuple[int, int]:  # noqa: N802
    return (1, 1) if handle.get("mig") else (0, 0)


def nvmlDeviceGetMaxMigDeviceCount(handle: dict[str, Any]) -> int:  # noqa: N802
    return 7 if handle.get("mig") else 0


def nvmlDeviceGetMigDeviceHandleByIndex(handle: dict[str, Any], index: int) -> Any:  # noqa: N802
    instances = handle.get("mig") or []
    if index >= len(instances):
        raise NVMLError("Not Found")
    return instances[index]


def nvmlDeviceGetGpuInstanceId(mig: dict[str, Any]) -> int:  # noqa: N802
    return int(mig["gi"])


# ----- GPM: activity of a MIG slice between two samples -----------------------------------------
def nvmlGpmQueryDeviceSupport(handle: dict[str, Any]) -> Any:  # noqa: N802
    return SimpleNamespace(version=1, isSupportedDevice=1 if handle.get("mig") else 0)


def nvmlGpmSampleAlloc() -> dict[str, Any]:  # noqa: N802
    return {}


def nvmlGpmSampleFree(sample: dict[str, Any]) -> None:  # noqa: N802
    sample.clear()


def nvmlGpmMigSampleGet(handle: dict[str, Any], gi: int, sample: dict[str, Any]) -> Any:  # noqa: N802
    for mig in handle.get("mig") or []:
        if mig["gi"] == gi:
            sample["utilization"] = _utilization(mig["uuid"])
            return sample
    raise NVMLError("Not Found")


class c_nvmlGpmMetricsGet_t:  # noqa: N801 - the binding's name
    def __init__(self) -> None:
        self.version = 0
        self.numMetrics = 0
        self.sample1: dict[str, Any] | None = None
        self.sample2: dict[str, Any] | None = None
        self.metrics = [SimpleNamespace(metricId=0, nvmlReturn=0, value=0.0) for _ in range(4)]


def nvmlGpmMetricsGet(request: c_nvmlGpmMetricsGet_t) -> c_nvmlGpmMetricsGet_t:  # noqa: N802
    if request.sample1 is None or request.sample2 is None:
        raise NVMLError("Invalid Argument")
    for metric in request.metrics[: request.numMetrics]:
        metric.nvmlReturn = NVML_SUCCESS
        metric.value = float(request.sample2.get("utilization") or 0.0)
    return request
