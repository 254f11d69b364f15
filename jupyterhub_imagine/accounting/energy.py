"""GPU energy of a session from NVML's energy counters (local backend, full GPUs only).

NVML's ``nvmlDeviceGetTotalEnergyConsumption`` counts millijoules since the driver loaded; the
session's energy is the difference between its reading at ready and at stop, summed over the
GPUs in the server's ``CUDA_VISIBLE_DEVICES``. A MIG slice has no counter of its own (the
whole card's energy cannot be split between slices): such sessions keep energy unknown, as do
GPUs whose driver does not report energy, and sessions whose hub restarted in between keep the
reading taken before the restart (it is stored with the record).
"""

from __future__ import annotations

import logging
from typing import Any

from ..gpu.nvml import load_nvml

log = logging.getLogger(__name__)


def visible_uuids(env: dict[str, str]) -> list[str]:
    """Full-GPU UUIDs a server may use; an empty list when any is a MIG slice or none set."""
    value = env.get("CUDA_VISIBLE_DEVICES", "")
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids or any(i.startswith("MIG-") for i in ids):
        return []
    return ids


class NVMLEnergyMeter:
    """Reads the summed energy counter (joules) of the given GPUs, or None if unknown."""

    def __init__(self, module: str = "pynvml") -> None:
        self.nvml: Any = load_nvml(module)

    def joules(self, uuids: list[str]) -> float | None:
        if self.nvml is None or not uuids:
            return None
        nvml = self.nvml
        try:
            nvml.nvmlInit()
            found: dict[str, float] = {}
            for i in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(i)
                uuid = nvml.nvmlDeviceGetUUID(handle)
                uuid = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
                if uuid in uuids:
                    found[uuid] = nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
            return sum(found.values()) if len(found) == len(set(uuids)) else None
        except Exception as exc:  # NVMLError_NotSupported and friends: energy stays unknown
            log.info("GPU energy not readable for %s: %s", ",".join(uuids), exc)
            return None
        finally:
            try:
                nvml.nvmlShutdown()
            except Exception:
                pass
