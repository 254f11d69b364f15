"""GPU activity of MIG instances through NVML's GPU Performance Monitoring (GPM).

NVML has no utilization counter for a MIG instance (``nvmlDeviceGetUtilizationRates`` answers
"Not Supported" in MIG mode). On Hopper and newer GPUs GPM can measure one: take a sample of the
instance now, another later, and ask for ``NVML_GPM_METRIC_GRAPHICS_UTIL`` between the two (the
share of time any compute or graphics work ran, the same quantity as DCGM's
``DCGM_FI_PROF_GR_ENGINE_ACTIVE``). So a value is an average over the time since the previous
read of the same instance; the first read of an instance has nothing to compare with and gives
None ("not available"), as do GPUs without GPM, bindings without it, and any NVML error.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class GpmMeter:
    """Keeps one GPM sample per MIG instance between reads. Not thread-safe: NVMLReader calls it
    under its lock."""

    def __init__(self) -> None:
        self._last: dict[str, Any] = {}  # MIG UUID -> the sample taken at the previous read
        self._supported: dict[str, bool] = {}  # parent UUID -> does it support GPM

    def mig_utilization(
        self, nvml: Any, parent: Any, parent_uuid: str, mig: Any, mig_uuid: str
    ) -> float | None:
        """Percent (0-100) of time the instance was busy since the last call, or None."""
        if not self._parent_supported(nvml, parent, parent_uuid):
            return None
        try:
            sample = nvml.nvmlGpmSampleAlloc()
        except Exception as exc:
            log.debug("GPM sample allocation failed: %s", exc)
            return None
        try:
            nvml.nvmlGpmMigSampleGet(parent, nvml.nvmlDeviceGetGpuInstanceId(mig), sample)
        except Exception as exc:
            log.debug("GPM sample of %s failed: %s", mig_uuid, exc)
            self._free(nvml, sample)
            self._drop(nvml, mig_uuid)
            return None
        previous = self._last.pop(mig_uuid, None)
        self._last[mig_uuid] = sample
        if previous is None:
            return None
        try:
            return self._graphics_util(nvml, previous, sample)
        finally:
            self._free(nvml, previous)

    def close(self, nvml: Any) -> None:
        """Free every kept sample; call before nvmlShutdown."""
        for uuid in list(self._last):
            self._drop(nvml, uuid)
        self._supported.clear()

    def _parent_supported(self, nvml: Any, parent: Any, uuid: str) -> bool:
        if uuid not in self._supported:
            try:
                support = nvml.nvmlGpmQueryDeviceSupport(parent)
                self._supported[uuid] = bool(support.isSupportedDevice)
            except Exception as exc:  # no GPM in the binding or the driver, or not this GPU
                log.debug("GPM is not available on %s: %s", uuid, exc)
                self._supported[uuid] = False
        return self._supported[uuid]

    @staticmethod
    def _graphics_util(nvml: Any, first: Any, second: Any) -> float | None:
        try:
            request = nvml.c_nvmlGpmMetricsGet_t()
            request.version = nvml.NVML_GPM_METRICS_GET_VERSION
            request.numMetrics = 1
            request.sample1 = first
            request.sample2 = second
            request.metrics[0].metricId = nvml.NVML_GPM_METRIC_GRAPHICS_UTIL
            nvml.nvmlGpmMetricsGet(request)
            metric = request.metrics[0]
            if metric.nvmlReturn != nvml.NVML_SUCCESS:
                return None
        except Exception as exc:
            log.debug("GPM metrics failed: %s", exc)
            return None
        return min(100.0, max(0.0, float(metric.value)))

    def _drop(self, nvml: Any, mig_uuid: str) -> None:
        sample = self._last.pop(mig_uuid, None)
        if sample is not None:
            self._free(nvml, sample)

    @staticmethod
    def _free(nvml: Any, sample: Any) -> None:
        try:
            nvml.nvmlGpmSampleFree(sample)
        except Exception as exc:
            log.debug("GPM sample free failed: %s", exc)
