"""The demo's simulated GPUs: what the spawner and the servers see, and how training drives them."""

from __future__ import annotations

import json
import os
import time

from jupyterhub_imagine.demo import gpus, simulated_nvml, training
from jupyterhub_imagine.gpu.nvml import GPUSampler, NVMLReader
from jupyterhub_imagine.spawner.local_profiles import candidates_for, derive_profiles


def test_a_machine_without_a_driver_gets_the_simulated_gpus(monkeypatch):
    monkeypatch.delenv(gpus.MODE_ENV, raising=False)
    monkeypatch.setattr(gpus, "machine_has_gpus", lambda module="pynvml": False)
    assert gpus.nvml_module_for_demo() == gpus.SIMULATED_MODULE
    monkeypatch.setattr(gpus, "machine_has_gpus", lambda module="pynvml": True)
    assert gpus.nvml_module_for_demo() == "pynvml"
    assert gpus.nvml_module_for_demo("simulated") == gpus.SIMULATED_MODULE


def test_profiles_offer_two_whole_gpus_and_mig_slices():
    devices = NVMLReader(simulated_nvml).devices(details=False)
    profiles = {p.slug: p for p in derive_profiles(devices, ["gpu"])}
    assert set(profiles) == {"cpu", "gpu-nvidia-a100-sxm4-40gb", "gpu2-nvidia-a100-sxm4-40gb",
                             "mig-1g-10gb"}
    assert len(candidates_for(profiles["gpu-nvidia-a100-sxm4-40gb"].gpu, devices)) == 2
    assert len(candidates_for(profiles["mig-1g-10gb"].gpu, devices)) == 3


def test_reports_say_simulated_and_follow_the_training_load(tmp_path, monkeypatch):
    monkeypatch.setenv(simulated_nvml.STATE_ENV, str(tmp_path))
    sampler = GPUSampler(NVMLReader(simulated_nvml), {"GPU-sim-a100-1"})
    idle = sampler.read()
    assert idle["simulated"] is True
    assert [g["utilization"] for g in idle["gpus"]] == [0.0]
    load = tmp_path / "load"
    load.mkdir()
    (load / "GPU-sim-a100-1.json").write_text(json.dumps(
        {"utilization": 85, "memory_used": 12 * 2**30, "pid": os.getpid(),
         "until": time.time() + 60}))
    busy = sampler.read()["gpus"][0]
    assert busy["utilization"] > 70 and busy["memory_used"] > 12 * 2**30
    assert busy["processes"] == [{"pid": os.getpid(), "memory_used": 12 * 2**30}]


def test_a_mig_slice_reports_training_through_gpm(tmp_path, monkeypatch):
    monkeypatch.setenv(simulated_nvml.STATE_ENV, str(tmp_path))
    slice_uuid = "MIG-GPU-sim-h100-2-1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", slice_uuid)
    monkeypatch.setattr(training.time, "sleep", lambda s: None)  # epochs without waiting
    sampler = GPUSampler(NVMLReader(simulated_nvml), {slice_uuid})
    seen = []
    real_write = training._write

    def write(folder, uuid, utilization, until):
        real_write(folder, uuid, utilization, until)
        seen.append(sampler.read()["gpus"][0]["mig"][0])

    monkeypatch.setattr(training, "_write", write)
    sampler.read()  # GPM: the first read of a slice has nothing to compare with
    training.train(epochs=2)
    assert [m["uuid"] for m in seen] == [slice_uuid, slice_uuid]
    assert all(m["utilization"] > 70 for m in seen)
    assert not list((tmp_path / "load").glob("*.json"))  # the load ends with the training
    after = sampler.read()["gpus"][0]["mig"][0]
    assert after["utilization"] == 0.0


def test_training_without_a_gpu_says_what_to_do(capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    training.train(epochs=1)
    assert "start a GPU profile" in capsys.readouterr().out
