"""NVMLReader and GPUSampler against the FAKE NVML module (no GPU on test machines)."""

from __future__ import annotations

import pytest

from jupyterhub_imagine.gpu.nvml import (
    NO_GPU_MESSAGE,
    GPUSampler,
    NVMLReader,
    visible_device_filter,
)
from tests.support import fake_nvml


@pytest.fixture
def nvml_state(tmp_path, monkeypatch):
    path = tmp_path / "nvml.json"
    monkeypatch.setenv("IMAGINE_FAKE_NVML", str(path))

    def write(devices):
        fake_nvml.write_state(str(path), devices)

    return write


@pytest.mark.fake
def test_reads_devices_with_processes_and_filters_by_visible(nvml_state):
    gpu0 = fake_nvml.a100("GPU-0", utilization=42, memory_used=2**30)
    gpu0["processes"] = [{"pid": 77, "memory_used": 2**20}]
    nvml_state([gpu0, fake_nvml.a100("GPU-1")])
    reader = NVMLReader(fake_nvml)
    assert [d.uuid for d in reader.devices()] == ["GPU-0", "GPU-1"]
    only = reader.devices({"GPU-1"})
    assert [d.uuid for d in only] == ["GPU-1"]
    by_index = reader.devices({"0"})
    assert by_index[0].utilization == 42.0
    assert by_index[0].processes == [{"pid": 77, "memory_used": 2**20}]


@pytest.mark.fake
def test_mig_utilization_is_not_available_rather_than_zero(nvml_state):
    nvml_state([fake_nvml.mig_a100("GPU-M", ["1g.5gb", "1g.5gb"])])
    report = GPUSampler(NVMLReader(fake_nvml), None).sample()
    gpu = report["gpus"][0]
    assert gpu["utilization"] is None
    assert [m["utilization"] for m in gpu["mig"]] == [None, None]
    assert gpu["mig"][0]["memory_total"] == 5 * 2**30


@pytest.mark.fake
def test_no_driver_gives_clear_no_gpu_answer(monkeypatch):
    monkeypatch.delenv("IMAGINE_FAKE_NVML", raising=False)
    report = GPUSampler(NVMLReader(fake_nvml), None).sample()
    assert report["available"] is False
    assert report["message"].startswith(NO_GPU_MESSAGE)
    assert "Driver Not Loaded" in report["message"]


@pytest.mark.fake
def test_empty_cuda_visible_devices_means_no_gpu_even_when_the_machine_has_one(nvml_state):
    nvml_state([fake_nvml.a100("GPU-0")])
    allowed = visible_device_filter({"CUDA_VISIBLE_DEVICES": ""})
    report = GPUSampler(NVMLReader(fake_nvml), allowed).sample()
    assert report == {**report, "available": False, "message": NO_GPU_MESSAGE, "gpus": []}


@pytest.mark.parametrize(
    "value,expected",
    [(None, None), ("", set()), ("-1", set()), ("0,1", {"0", "1"}), ("GPU-a", {"GPU-a"})],
)
def test_visible_device_filter(value, expected):
    env = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    assert visible_device_filter(env) == expected


@pytest.mark.fake
def test_sampler_caches_within_its_window(nvml_state):
    nvml_state([fake_nvml.a100("GPU-0", utilization=10)])
    now = [0.0]
    sampler = GPUSampler(NVMLReader(fake_nvml), None, cache_seconds=1.0, clock=lambda: now[0])
    assert sampler.sample()["gpus"][0]["utilization"] == 10
    nvml_state([fake_nvml.a100("GPU-0", utilization=90)])
    assert sampler.sample()["gpus"][0]["utilization"] == 10
    now[0] = 2.0
    assert sampler.sample()["gpus"][0]["utilization"] == 90


@pytest.mark.fake
def test_mig_activity_on_a_gpm_gpu_is_measured_between_two_reads(nvml_state):
    """Hopper+ (FAKE GPM): the first read has nothing to compare with, later reads give the
    instance's activity since the previous read; every sample is freed at shutdown."""
    nvml_state([fake_nvml.mig_h100("GPU-H", [85.0, 0.0])])
    reader = NVMLReader(fake_nvml)
    first = reader.devices()[0]
    assert [m.utilization for m in first.mig] == [None, None]
    assert first.utilization is None  # the whole GPU has no counter in MIG mode
    assert [m.utilization for m in reader.devices()[0].mig] == [85.0, 0.0]
    nvml_state([fake_nvml.mig_h100("GPU-H", [3.0, 60.0])])
    assert [m.utilization for m in reader.devices()[0].mig] == [3.0, 60.0]
    assert fake_nvml.live_gpm_samples() == 2  # one kept per instance
    reader.shutdown()
    assert fake_nvml.live_gpm_samples() == 0


@pytest.mark.fake
def test_mig_without_gpm_or_with_a_failing_sample_stays_not_available(nvml_state):
    h100 = fake_nvml.mig_h100("GPU-H", [50.0])
    h100["mig"][0]["gpm_error"] = True
    nvml_state([fake_nvml.mig_a100("GPU-A", ["1g.5gb"]), h100])
    reader = NVMLReader(fake_nvml)
    for _ in range(3):
        assert [m.utilization for d in reader.devices() for m in d.mig] == [None, None]
    assert fake_nvml.live_gpm_samples() == 0


@pytest.mark.fake
def test_a_mig_uuid_in_cuda_visible_devices_shows_only_that_instance(nvml_state):
    """The local backend hands out MIG slices by UUID: the server sees its slice, not the
    other slices of the same GPU nor the processes of their users."""
    h100 = fake_nvml.mig_h100("GPU-H", [10.0, 90.0, 0.0])
    h100["processes"] = [{"pid": 4242, "memory_used": 2**30}]
    nvml_state([fake_nvml.a100("GPU-0"), h100])
    allowed = visible_device_filter({"CUDA_VISIBLE_DEVICES": "MIG-GPU-H-1"})
    sampler = GPUSampler(NVMLReader(fake_nvml), allowed, cache_seconds=0)
    sampler.sample()
    report = sampler.sample()
    assert report["available"] is True
    [gpu] = report["gpus"]
    assert gpu["uuid"] == "GPU-H" and gpu["processes"] == []
    assert [(m["uuid"], m["utilization"]) for m in gpu["mig"]] == [("MIG-GPU-H-1", 90.0)]
    whole = GPUSampler(NVMLReader(fake_nvml), {"GPU-H"}).sample()["gpus"][0]
    assert len(whole["mig"]) == 3 and whole["processes"] == [{"pid": 4242, "memory_used": 2**30}]
