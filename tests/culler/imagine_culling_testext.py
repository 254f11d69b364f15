"""Test-only jupyter-server extension mounting the culling handlers (stands in for the lead's app).

Its identity provider maps a few fixed tokens to JupyterHub identities, the way
jupyterhub-singleuser's provider does, so the "only the culler service" rule can be tested.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from jupyterhub.singleuser.extension import JupyterHubUser

from jupyterhub_imagine.serverext import culling

HUB_IDENTITIES: dict[str, dict[str, Any]] = {
    "culler-token": {"kind": "service", "name": "imagine-culler"},
    "other-service-token": {"kind": "service", "name": "other"},
    "alice-token": {"kind": "user", "name": "alice"},
}


class FakeSampler:
    """Stands in for the lead's NVML sampler (a fake: no GPU here).

    In a hub-spawned server, $IMAGINE_TEST_GPU_DIR/<user>.json, written by the test, is the
    payload; otherwise a fixed one.
    """

    def __init__(self) -> None:
        self.payload: dict[str, Any] = {
            "available": True,
            "message": "",
            "sampled_at": time.time(),
            "gpus": [{"index": 0, "utilization": 42.0}],
            "warning": "must be stripped",
        }

    @staticmethod
    def _read(folder: str) -> dict[str, Any]:
        path = os.path.join(folder, os.environ.get("JUPYTERHUB_USER", "") + ".json")
        with open(path) as f:
            return json.load(f)  # type: ignore[no-any-return]

    async def sample(self) -> dict[str, Any]:
        folder = os.environ.get("IMAGINE_TEST_GPU_DIR")
        if folder:
            return {**self._read(folder), "sampled_at": test_clock()}
        return dict(self.payload)


def test_clock() -> float:
    """The test's injected clock when it publishes one ($IMAGINE_TEST_GPU_DIR/clock)."""
    folder = os.environ.get("IMAGINE_TEST_GPU_DIR")
    path = os.path.join(folder or "", "clock")
    if folder and os.path.exists(path):
        with open(path) as f:
            return float(f.read())
    return time.time()


class TokenMapIdentityProvider(IdentityProvider):
    """Fixed tokens to hub identities (only for the jp_fetch tests, not under a real hub)."""

    async def get_user(self, handler: Any) -> User | None:  # type: ignore[override]
        token = self.get_token(handler)
        model = HUB_IDENTITIES.get(token or "")
        if model is None:
            return None
        handler._token_authenticated = True
        return JupyterHubUser(model)


class CullingTestExtension(ExtensionApp):
    name = "imagine_culling_testext"

    def initialize_settings(self) -> None:
        state = culling.CullingState(culler_services=["imagine-culler"], clock=test_clock)
        self.settings["imagine_culling"] = state
        self.settings["imagine_gpu_sampler"] = FakeSampler()

    async def stop_extension(self) -> None:
        self.settings["imagine_culling"].stop_sampling()

    def initialize_handlers(self) -> None:
        self.handlers.extend(
            (url_path_join("/jupyterhub-imagine/api", suffix), cls)
            for suffix, cls in culling.handlers
        )


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": __name__, "app": CullingTestExtension}]
