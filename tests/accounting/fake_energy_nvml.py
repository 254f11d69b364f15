"""FAKE NVML with energy counters: tests.support.fake_nvml plus
``nvmlDeviceGetTotalEnergyConsumption``, read from each device's ``energy_mj`` in the JSON file
(a device without it answers "Not Supported", as older GPUs do)."""

from __future__ import annotations

from typing import Any

from tests.support.fake_nvml import *  # noqa: F403 - the same fake, one call more
from tests.support.fake_nvml import NVMLError


def nvmlDeviceGetTotalEnergyConsumption(handle: dict[str, Any]) -> int:
    if "energy_mj" not in handle:
        raise NVMLError("Not Supported")
    return int(handle["energy_mj"])
