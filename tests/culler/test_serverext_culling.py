"""The server side of the culler contract, through a real jupyter-server (pytest-jupyter) with
the real server extension; the hub's identity and the GPU sampler are FAKES (hub_identity.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyterhub_imagine.serverext.culling.state import CullingState
from tests.serverext.activity import last_activity
from tests.support.wait import await_until

from .hub_identity import FakeSampler

pytestmark = pytest.mark.fake

CULLER = {"Authorization": "token culler-token"}
OTHER_SERVICE = {"Authorization": "token other-service-token"}
ALICE = {"Authorization": "token alice-token"}
WARNING = {
    "issued_at": 1000.0,
    "stop_at": 1900.0,
    "reason": "GPU idle for 00:30:00",
    "postponements_left": 1,
    "postpone_by": 3600,
}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyterhub_imagine": True},
            "identity_provider_class": "tests.culler.hub_identity.TokenMapIdentityProvider",
        },
        "ImagineServerExtension": {
            "nvml_module": "tests.support.fake_nvml",
            "mounts_enabled": False,
            "software_enabled": False,
        },
    }


@pytest.fixture(autouse=True)
def fake_sampler(jp_serverapp: Any) -> FakeSampler:
    """The FAKE sampler in place of NVML's (no GPU here)."""
    sampler = FakeSampler()
    jp_serverapp.web_app.settings["imagine_gpu_sampler"] = sampler
    return sampler


@pytest.fixture
def run(jp_asyncio_loop: Any) -> Any:
    """Run a coroutine in the server's loop (pytest-asyncio's auto mode would use another)."""
    return jp_asyncio_loop.run_until_complete


@pytest.fixture
def state(jp_serverapp: Any) -> CullingState:
    return jp_serverapp.web_app.settings["imagine_culling"]  # type: ignore[no-any-return]


async def call(jp_fetch: Any, path: str, headers: dict[str, str], **kw: Any) -> Any:
    if "body" in kw and not isinstance(kw["body"], str):
        kw["body"] = json.dumps(kw["body"])
    r = await jp_fetch("jupyterhub-imagine", "api", *path.split("/"), headers=headers, **kw)
    return json.loads(r.body) if r.body else None


async def status_of(jp_fetch: Any, path: str, headers: dict[str, str], **kw: Any) -> tuple:
    with pytest.raises(HTTPClientError) as e:
        await call(jp_fetch, path, headers, **kw)
    assert e.value.response is not None, e.value
    return e.value.code, json.loads(e.value.response.body)


def test_unauthenticated_is_rejected(jp_fetch: Any, run: Any) -> None:
    async def scenario() -> None:
        for path, method, body in [
            ("activity", "GET", None),
            ("presence", "POST", {"kind": "key"}),
            ("warning", "PUT", WARNING),
            ("warning/keep", "POST", {}),
        ]:
            kw = {"method": method} | ({"body": body} if body is not None else {})
            code, _ = await status_of(jp_fetch, path, {"Authorization": "token nope"}, **kw)
            assert code == 403, path

    run(scenario())


def test_activity_reports_gpu_presence_and_does_not_track_activity(
    jp_fetch: Any, state: CullingState, run: Any
) -> None:
    async def scenario() -> None:
        before = await last_activity(jp_fetch, ALICE)
        model = await call(jp_fetch, "activity", CULLER)
        assert model["gpu"]["gpus"][0]["utilization"] == 42.0
        assert "warning" not in model["gpu"]
        assert model["last_presence"] is None and model["keep_requested_at"] is None
        assert await call(jp_fetch, "warning", ALICE) == {"warning": None}
        await call(jp_fetch, "warning", CULLER, method="DELETE")  # the culler's writes neither
        assert await last_activity(jp_fetch, ALICE) == before

        presence = await call(jp_fetch, "presence", ALICE, method="POST", body={"kind": "click"})
        assert presence["last_presence"] == pytest.approx(state.last_presence)
        # a real interaction is activity too
        assert await last_activity(jp_fetch, ALICE) > before
        model = await call(jp_fetch, "activity", CULLER)
        assert model["last_presence"] == presence["last_presence"]

    run(scenario())


@pytest.mark.parametrize("body", [{"kind": "poll"}, {}, [], json.dumps("key")])
def test_presence_rejects_bad_kind(jp_fetch: Any, body: Any, run: Any) -> None:
    async def scenario() -> None:
        code, err = await status_of(jp_fetch, "presence", ALICE, method="POST", body=body)
        assert code == 400 and "kind" in err["message"]

    run(scenario())


def test_presence_rejects_bad_json(jp_fetch: Any, run: Any) -> None:
    async def scenario() -> None:
        code, err = await status_of(jp_fetch, "presence", ALICE, method="POST", body="{nope")
        assert code == 400 and err["reason"] == "bad-json"

    run(scenario())


def test_only_the_culler_service_sets_warnings(
    jp_fetch: Any, state: CullingState, run: Any
) -> None:
    async def scenario() -> None:
        for who in (ALICE, OTHER_SERVICE):
            code, err = await status_of(jp_fetch, "warning", who, method="PUT", body=WARNING)
            assert code == 403 and "culler" in err["message"]
            code, _ = await status_of(jp_fetch, "warning", who, method="DELETE")
            assert code == 403
        model = await call(jp_fetch, "warning", CULLER, method="PUT", body=WARNING)
        assert model["warning"]["stop_at"] == 1900.0
        assert (await call(jp_fetch, "warning", ALICE))["warning"]["reason"] == WARNING["reason"]
        assert state.warning_payload() is not None
        await call(jp_fetch, "warning", CULLER, method="DELETE")
        assert (await call(jp_fetch, "warning", ALICE))["warning"] is None

    run(scenario())


@pytest.mark.parametrize(
    "bad",
    [
        {**WARNING, "stop_at": "soon"},
        {**WARNING, "postponements_left": -1},
        {**WARNING, "postponements_left": True},
        {**WARNING, "stop_at": 10.0},
        {k: v for k, v in WARNING.items() if k != "postpone_by"},
        [WARNING],
    ],
)
def test_bad_warning_is_400(jp_fetch: Any, bad: Any, run: Any) -> None:
    async def scenario() -> None:
        code, err = await status_of(jp_fetch, "warning", CULLER, method="PUT", body=bad)
        assert code == 400 and err["reason"] == "invalid-warning" and err["message"]

    run(scenario())


def test_keep_postpones_once_per_warning_and_runs_out(
    jp_fetch: Any, state: CullingState, run: Any
) -> None:
    async def scenario() -> None:
        code, err = await status_of(jp_fetch, "warning/keep", ALICE, method="POST", body={})
        assert code == 409 and err["reason"] == "no-warning"

        await call(jp_fetch, "warning", CULLER, method="PUT", body=WARNING)
        kept = await call(jp_fetch, "warning/keep", ALICE, method="POST", body={})
        assert kept["warning"]["postponements_left"] == 0
        assert kept["warning"]["stop_at"] >= kept["keep_requested_at"] + 3600
        # a double click before the culler has seen the answer counts once
        again = await call(jp_fetch, "warning/keep", ALICE, method="POST", body={})
        assert again["warning"]["postponements_left"] == 0
        activity = await call(jp_fetch, "activity", CULLER)
        assert activity["keep_requested_at"] == kept["keep_requested_at"]

        # the culler applies it and re-issues its warning: none left now
        await call(
            jp_fetch, "warning", CULLER, method="PUT", body={**WARNING, "postponements_left": 0}
        )
        code, err = await status_of(jp_fetch, "warning/keep", ALICE, method="POST", body={})
        assert code == 409 and err["reason"] == "no-postponements-left"
        assert "postponements" in err["message"]

    run(scenario())


def test_gpu_burst_between_two_reads_is_reported(
    jp_fetch: Any, jp_serverapp: Any, state: CullingState, run: Any
) -> None:
    """The background sampler keeps the peak since the culler's last read (FAKE sampler)."""
    sampler = jp_serverapp.web_app.settings["imagine_gpu_sampler"]

    def util(value: float) -> None:
        sampler.payload["gpus"] = [
            {"index": 0, "utilization": value, "mig": [{"utilization": value / 2}]}
        ]

    seen: list[float] = []  # the utilisation of each sample taken
    take = sampler.sample

    async def counted() -> dict[str, Any]:
        payload = await take()
        seen.append(payload["gpus"][0]["utilization"])
        return payload

    sampler.sample = counted

    async def scenario() -> None:
        state.sample_every = 0.02
        util(0.0)
        first = await call(jp_fetch, "activity", CULLER)  # starts the background sampling
        assert first["gpu"]["gpus"][0]["utilization"] == 0.0
        util(90.0)
        await await_until(lambda: 90.0 in seen, 10, "a background sample of the burst")
        util(0.0)  # the burst ended before the culler's next read
        model = await call(jp_fetch, "activity", CULLER)
        device = model["gpu"]["gpus"][0]
        assert device["utilization"] == 90.0 and device["mig"][0]["utilization"] == 45.0
        assert model["gpu"]["peak_since"] <= model["now"]
        state.stop_sampling()
        again = await call(jp_fetch, "activity", CULLER)  # peaks reset at each read
        assert again["gpu"]["gpus"][0]["utilization"] == 0.0

    run(scenario())
