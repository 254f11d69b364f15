"""Which GPUs the demo shows: the machine's own, or simulated ones where it has none."""

from __future__ import annotations

import os

from ..gpu.nvml import NVMLReader, load_nvml
from ..spawner.form import Availability
from ..spawner.local import ImagineLocalSpawner
from ..spawner.profiles import Profile

SIMULATED_MODULE = "jupyterhub_imagine.demo.simulated_nvml"
MODE_ENV = "IMAGINE_DEMO_GPUS"  # "auto" (default), "real" or "simulated"


def machine_has_gpus(module: str = "pynvml") -> bool:
    """True when NVML answers and finds at least one GPU."""
    reader = NVMLReader(load_nvml(module))
    try:
        return bool(reader.devices(details=False))
    except Exception:  # noqa: BLE001 - a broken driver is as good as none for the demo
        return False
    finally:
        reader.shutdown()


def nvml_module_for_demo(mode: str | None = None) -> str:
    """The NVML module the demo's spawner and servers use."""
    mode = (mode or os.environ.get(MODE_ENV) or "auto").lower()
    if mode not in ("auto", "real", "simulated"):
        raise ValueError(f"{MODE_ENV} must be auto, real or simulated, not {mode!r}")
    if mode == "real" or (mode == "auto" and machine_has_gpus()):
        return "pynvml"
    return SIMULATED_MODULE


class SimulatedAvailability(Availability):
    def text(self) -> str:
        return f"{super().text()} (simulated)"


class SimulatedGPUSpawner(ImagineLocalSpawner):
    """The local spawner, saying "(simulated)" beside the availability of simulated GPUs."""

    def _availability(self, profiles: list[Profile]) -> dict[str, Availability]:
        if not getattr(load_nvml(self.nvml_module), "IMAGINE_SIMULATED", False):
            return super()._availability(profiles)  # a test's own fake, or real GPUs
        return {
            slug: SimulatedAvailability(a.free, a.total, a.unit)
            for slug, a in super()._availability(profiles).items()
        }
