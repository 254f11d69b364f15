"""Read GPUs through NVML, behind a small interface that tests can feed with a fake module.

Two users: the single-machine spawner (which GPUs exist, to build profiles and allocate them) and
the server extension (utilization and memory of this server's GPUs, for the status bar and the
culler). Both take the NVML module as a constructor argument; production passes ``pynvml`` from
nvidia-ml-py.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from .gpm import GpmMeter

log = logging.getLogger(__name__)

NO_GPU_MESSAGE = "No GPU is assigned to this server."
DRIVER_ERROR_MESSAGE = "GPU status is unavailable: the GPU driver reported an error ({})."


def unavailable(message: str, reason: str) -> dict[str, Any]:
    """A report that says no GPU figures can be shown right now, and why."""
    return {
        "available": False,
        "message": message,
        "reason": reason,
        "sampled_at": time.time(),
        "gpus": [],
    }


@dataclass(frozen=True)
class MigInstance:
    uuid: str
    name: str
    memory_total: int
    memory_used: int = 0
    # NVML has no utilization counter per MIG instance; GPM measures one on Hopper and newer
    utilization: float | None = None


@dataclass(frozen=True)
class GPUDevice:
    index: int
    uuid: str
    name: str
    memory_total: int
    memory_used: int = 0
    utilization: float | None = None
    processes: list[dict[str, int]] = field(default_factory=list)
    mig: list[MigInstance] = field(default_factory=list)


def load_nvml(module_name: str = "pynvml") -> ModuleType | None:
    """Import the NVML binding, or None when it is not installed."""
    try:
        return importlib.import_module(module_name)
    except ImportError:
        log.info("NVML binding %s is not installed; treating this machine as CPU-only", module_name)
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_device_filter(env: Mapping[str, str] | None = None) -> set[str] | None:
    """The devices CUDA_VISIBLE_DEVICES allows (indices, GPU or MIG UUIDs); None means all,
    empty none."""
    raw = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    raw = raw.strip()
    if raw in ("", "-1", "NoDevFiles", "none", "void"):
        return set()
    return {part.strip() for part in raw.split(",") if part.strip()}


class NVMLReader:
    """Thin, thread-safe wrapper over an NVML module: init once, read devices, shut down."""

    def __init__(self, nvml: ModuleType | None) -> None:
        self._nvml = nvml
        self._lock = threading.Lock()
        self._initialized = False
        self._gpm = GpmMeter()
        self.error: str = ""
        # a stand-in module (the demo's simulated GPUs) says so, and every report shows it
        self.simulated = bool(getattr(nvml, "IMAGINE_SIMULATED", False))

    def _ensure_init(self) -> bool:
        if self._nvml is None:
            self.error = "NVML is not installed"
            return False
        if not self._initialized:
            try:
                self._nvml.nvmlInit()
            except Exception as exc:  # NVMLError subclasses vary by driver state
                self.error = f"NVML is not available: {exc}"
                return False
            self._initialized = True
        return True

    def shutdown(self) -> None:
        with self._lock:
            if self._initialized and self._nvml is not None:
                self._gpm.close(self._nvml)
                try:
                    self._nvml.nvmlShutdown()
                except Exception as exc:
                    log.debug("nvmlShutdown failed: %s", exc)
            self._initialized = False

    def devices(self, allowed: set[str] | None = None, details: bool = True) -> list[GPUDevice]:
        """All devices, or those whose index or UUID is in ``allowed``. A MIG instance's UUID in
        ``allowed`` keeps its GPU with only the allowed instances (and none of the GPU's
        processes, which belong to other instances' users)."""
        with self._lock:
            if not self._ensure_init():
                return []
            nvml = self._nvml
            assert nvml is not None
            result = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
                whole = allowed is None or str(index) in allowed or uuid in allowed
                mig = self._mig(nvml, handle, uuid, None if whole else allowed, details)
                if whole or mig:
                    result.append(self._read_device(nvml, index, handle, uuid, details, mig, whole))
            return result

    def _read_device(
        self,
        nvml: Any,
        index: int,
        handle: Any,
        uuid: str,
        details: bool,
        mig: list[MigInstance],
        whole: bool,
    ) -> GPUDevice:
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        name = _text(nvml.nvmlDeviceGetName(handle))
        if not details:
            return GPUDevice(index, uuid, name, int(memory.total), mig=mig)
        return GPUDevice(
            index=index,
            uuid=uuid,
            name=name,
            memory_total=int(memory.total),
            memory_used=int(memory.used),
            utilization=self._utilization(nvml, handle),
            processes=self._processes(nvml, handle) if whole else [],
            mig=mig,
        )

    @staticmethod
    def _utilization(nvml: Any, handle: Any) -> float | None:
        try:
            return float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # NotSupported in MIG mode: say "not available", never 0
            return None

    @staticmethod
    def _processes(nvml: Any, handle: Any) -> list[dict[str, int]]:
        try:
            procs = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        except Exception:
            return []
        return [{"pid": int(p.pid), "memory_used": int(p.usedGpuMemory or 0)} for p in procs]

    def _mig(
        self, nvml: Any, handle: Any, uuid: str, allowed: set[str] | None, details: bool
    ) -> list[MigInstance]:
        """The GPU's MIG instances (those in ``allowed``, unless it is None)."""
        try:
            current, _pending = nvml.nvmlDeviceGetMigMode(handle)
        except Exception:
            return []
        if not current:
            return []
        instances = []
        for i in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, i)
            except Exception:
                continue  # slot not populated
            mig_uuid = _text(nvml.nvmlDeviceGetUUID(mig))
            if allowed is not None and mig_uuid not in allowed:
                continue
            memory = nvml.nvmlDeviceGetMemoryInfo(mig)
            utilization = None
            if details:
                utilization = self._gpm.mig_utilization(nvml, handle, uuid, mig, mig_uuid)
            instances.append(
                MigInstance(
                    uuid=mig_uuid,
                    name=_text(nvml.nvmlDeviceGetName(mig)),
                    memory_total=int(memory.total),
                    memory_used=int(memory.used),
                    utilization=utilization,
                )
            )
        return instances


class GPUSampler:
    """Samples this server's GPUs with a short cache; call ``sample`` off the event loop."""

    def __init__(
        self,
        reader: NVMLReader,
        allowed: set[str] | None,
        cache_seconds: float = 1.0,
        clock: Any = time.monotonic,
    ) -> None:
        self._reader = reader
        self._allowed = allowed
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def sample(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            if self._cached and now - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            report = self.read()
            self._cached = (now, report)
            return report

    def read(self) -> dict[str, Any]:
        """A fresh report (blocking). A driver error after initialisation ("GPU is lost",
        "Unknown Error", "Insufficient Permissions") gives an "unavailable" report naming it, and
        NVML is initialised afresh at the next read."""
        try:
            report = self._build_report()
        except Exception as exc:  # noqa: BLE001 - NVMLError subclasses vary by driver state
            self._reader.shutdown()
            reason = str(exc) or type(exc).__name__
            report = unavailable(DRIVER_ERROR_MESSAGE.format(reason), reason)
        report["simulated"] = self._reader.simulated
        return report

    def _build_report(self) -> dict[str, Any]:
        if self._allowed is not None and not self._allowed:
            devices: list[GPUDevice] = []
        else:
            devices = self._reader.devices(self._allowed)
        message = ""
        if not devices:
            message = NO_GPU_MESSAGE
            if self._allowed is None and self._reader.error:
                message = f"{NO_GPU_MESSAGE} ({self._reader.error})"
        return {
            "available": bool(devices),
            "message": message,
            "sampled_at": time.time(),
            "gpus": [asdict(d) for d in devices],
        }

    def close(self) -> None:
        self._reader.shutdown()
