"""/gpu and /activity on a real jupyter-server when the GPU driver hangs or fails.

NVML is the FAKE module of tests/gpu/faulty_nvml.py (no GPU on the test machines): its
nvmlDeviceGetCount hangs until released, or raises the errors drivers give after initialisation.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.gpu import faulty_nvml
from tests.support import fake_nvml

pytestmark = pytest.mark.fake
TIMEOUT = 1.0
ROUTES = ("gpu", "activity")


@pytest.fixture
def faulty(tmp_path, monkeypatch):
    path = tmp_path / "nvml.json"
    fake_nvml.write_state(str(path), [fake_nvml.a100("GPU-0", 40)])
    monkeypatch.setenv("IMAGINE_FAKE_NVML", str(path))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0")
    faulty_nvml.FAULT["mode"] = ""
    faulty_nvml.RELEASE.clear()
    yield faulty_nvml
    faulty_nvml.FAULT["mode"] = ""
    faulty_nvml.RELEASE.set()


@pytest.fixture
def jp_server_config(faulty):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
        "ImagineServerExtension": {
            "nvml_module": "tests.gpu.faulty_nvml",
            "gpu_cache_seconds": 0.0,
            "gpu_read_timeout": TIMEOUT,
            "culling_sample_every": 0.0,
        },
        "ImagineMountManager": {"root": "/tmp/imagine-gpu-faults-unused"},
    }


async def get(jp_fetch, route: str) -> tuple[int, dict, float]:
    start = time.monotonic()
    response = await jp_fetch("jupyterhub-imagine", "api", route, raise_error=False)
    return response.code, json.loads(response.body), time.monotonic() - start


def gpu_part(route: str, body: dict) -> dict:
    return body if route == "gpu" else body["gpu"]


@pytest.mark.parametrize("error", ["GPU is lost", "Unknown Error", "Insufficient Permissions"])
async def test_driver_errors_after_initialisation_answer_200_with_the_reason(
    jp_fetch, faulty, error
):
    code, body, _ = await get(jp_fetch, "gpu")
    assert code == 200 and body["available"] is True  # NVML initialised, GPU seen
    faulty.FAULT["mode"] = error
    for route in ROUTES:
        code, body, _ = await get(jp_fetch, route)
        assert code == 200, body
        gpu = gpu_part(route, body)
        assert gpu["available"] is False
        assert gpu["reason"] == error and error in gpu["message"]
    faulty.FAULT["mode"] = ""
    code, body, _ = await get(jp_fetch, "gpu")
    assert body["available"] is True and body["gpus"][0]["utilization"] == 40.0


async def test_a_hanging_driver_call_never_holds_the_routes(jp_fetch, faulty):
    faulty.FAULT["mode"] = "hang"
    # twenty polls at once while the driver hangs: each answers within the read timeout
    answers = await asyncio.gather(*(get(jp_fetch, ROUTES[i % 2]) for i in range(20)))
    for i, (code, body, seconds) in enumerate(answers):
        gpu = gpu_part(ROUTES[i % 2], body)
        assert code == 200 and gpu["available"] is False and gpu["reason"] == "timeout"
        assert seconds < TIMEOUT + 2.0
    # later polls do not wait for the hung call again
    code, body, seconds = await get(jp_fetch, "gpu")
    assert code == 200 and body["reason"] == "timeout"
    assert seconds < TIMEOUT
    # once the driver answers, figures come back
    faulty.FAULT["mode"] = ""
    faulty.RELEASE.set()
    deadline = time.monotonic() + 10
    while (await get(jp_fetch, "gpu"))[1]["available"] is not True:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
