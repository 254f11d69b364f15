"""How the culler reads a server's GET activity answer (the server-endpoint source)."""

from __future__ import annotations

from typing import Any

from jupyterhub_imagine.culler.sources import reading_from_activity


def answer(gpus: list[dict[str, Any]], sampled_at: float = 1000.0) -> dict[str, Any]:
    gpu = {"available": bool(gpus), "sampled_at": sampled_at, "gpus": gpus}
    return {"now": 1000.0, "gpu": gpu, "last_presence": 900.0}


def mig_gpu(*utilizations: float | None) -> dict[str, Any]:
    mig = [{"uuid": f"MIG-{i}", "utilization": u} for i, u in enumerate(utilizations)]
    return {"index": 0, "uuid": "GPU-H", "utilization": None, "mig": mig}


def test_a_mig_slice_measured_by_gpm_counts_as_that_activity() -> None:
    reading = reading_from_activity(answer([mig_gpu(70.0)]), now=1000.0, max_age=300)
    assert (reading.holds_gpu, reading.utilization, reading.gpus) == (True, 70.0, 1)
    assert reading.last_presence == 900.0


def test_a_mig_slice_without_a_measure_holds_a_gpu_of_unknown_activity() -> None:
    """A100 MIG (no GPM), or GPM's first read: never read as idle."""
    reading = reading_from_activity(answer([mig_gpu(None)]), now=1000.0, max_age=300)
    assert (reading.holds_gpu, reading.utilization) == (True, None)


def test_a_stale_sample_is_unknown_and_no_gpu_is_cpu_only() -> None:
    stale = reading_from_activity(answer([mig_gpu(0.0)], sampled_at=600.0), 1000.0, max_age=300)
    assert (stale.holds_gpu, stale.utilization) == (True, None)
    cpu = reading_from_activity(answer([]), now=1000.0, max_age=300)
    assert (cpu.holds_gpu, cpu.utilization) == (False, None)
