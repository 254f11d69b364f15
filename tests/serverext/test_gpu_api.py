"""/status and /gpu on a real jupyter-server with the extension; NVML is the FAKE module."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from tests.serverext.activity import last_activity
from tests.support import fake_nvml

pytestmark = pytest.mark.fake


@pytest.fixture
def nvml_file(tmp_path, monkeypatch, request):
    """Two fake A100s and an H100 in MIG mode; the server is given what the cuda_visible marker
    names (GPU-1 by default)."""
    path = tmp_path / "nvml.json"
    fake_nvml.write_state(
        str(path),
        [
            fake_nvml.a100("GPU-0", utilization=99),
            fake_nvml.a100("GPU-1", 37, 3 * 2**30),
            fake_nvml.mig_h100("GPU-H", [5.0, 70.0]),
        ],
    )
    marker = request.node.get_closest_marker("cuda_visible")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", marker.args[0] if marker else "GPU-1")
    monkeypatch.setenv("IMAGINE_FAKE_NVML", str(path))
    monkeypatch.setenv("JUPYTERHUB_IMAGINE_PROFILE", "gpu-a100")
    return path


@pytest.fixture
def jp_server_config(nvml_file):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterhub_imagine": True}},
        "ImagineServerExtension": {
            "nvml_module": "tests.support.fake_nvml",
            "gpu_cache_seconds": 0.0,
        },
    }


async def test_gpu_reports_the_samplers_numbers(jp_fetch):
    response = await jp_fetch("jupyterhub-imagine", "api", "gpu")
    body = json.loads(response.body)
    assert body["available"] is True
    assert [(g["uuid"], g["utilization"], g["memory_used"]) for g in body["gpus"]] == [
        ("GPU-1", 37.0, 3 * 2**30)
    ]
    assert body["warning"] is None


@pytest.mark.cuda_visible("")
async def test_gpu_says_no_gpu_clearly(jp_fetch):
    body = json.loads((await jp_fetch("jupyterhub-imagine", "api", "gpu")).body)
    assert body == {**body, "available": False, "gpus": []}
    assert "No GPU" in body["message"]


@pytest.mark.cuda_visible("MIG-GPU-H-1")
async def test_a_mig_slice_reports_its_own_activity_from_the_second_read(jp_fetch):
    first = json.loads((await jp_fetch("jupyterhub-imagine", "api", "gpu")).body)
    [gpu] = first["gpus"]
    assert [(m["uuid"], m["utilization"]) for m in gpu["mig"]] == [("MIG-GPU-H-1", None)]
    later = json.loads((await jp_fetch("jupyterhub-imagine", "api", "gpu")).body)
    assert [m["utilization"] for m in later["gpus"][0]["mig"]] == [70.0]


async def test_status_names_the_profile(jp_fetch):
    body = json.loads((await jp_fetch("jupyterhub-imagine", "api", "status")).body)
    assert body["profile"] == "gpu-a100"
    assert body["hub_prefix"].endswith("/hub/")


async def test_polling_does_not_count_as_activity(jp_fetch):
    before = await last_activity(jp_fetch)
    await jp_fetch("jupyterhub-imagine", "api", "gpu")
    await jp_fetch("jupyterhub-imagine", "api", "status")
    assert await last_activity(jp_fetch) == before
    # a request jupyter-server counts does move it: the check above can fail
    await jp_fetch("api", "contents", method="POST", body=json.dumps({"type": "file"}))
    assert await last_activity(jp_fetch) > before


async def test_requests_without_a_token_are_refused(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("jupyterhub-imagine", "api", "gpu", headers={"Authorization": ""})
    assert err.value.code == 403
