"""FAKES for the jp_fetch tests of the culling routes, which run a real jupyter-server with the
real server extension but no hub: the hub's identity (fixed tokens stand for the identities
jupyterhub-singleuser's provider would return) and the GPU sampler (no GPU here)."""

from __future__ import annotations

import time
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from jupyterhub.singleuser.extension import JupyterHubUser

from jupyterhub_imagine import contract

HUB_IDENTITIES: dict[str, dict[str, Any]] = {
    "culler-token": {"kind": "service", "name": contract.DEFAULT_CULLER_SERVICE},
    "other-service-token": {"kind": "service", "name": "other"},
    "alice-token": {"kind": "user", "name": "alice"},
}


class TokenMapIdentityProvider(IdentityProvider):
    """FAKE hub identities: fixed tokens to the models the hub would return."""

    async def get_user_token(self, handler: Any) -> User | None:
        # jupyter-server's own get_user then marks the request token-authenticated (no XSRF)
        model = HUB_IDENTITIES.get(self.get_token(handler) or "")
        return None if model is None else JupyterHubUser(model)


class FakeSampler:
    """FAKE GPU sampler whose payload the test sets."""

    def __init__(self) -> None:
        self.payload: dict[str, Any] = {
            "available": True,
            "message": "",
            "gpus": [{"index": 0, "utilization": 42.0}],
            "warning": "must be stripped",
        }

    async def sample(self) -> dict[str, Any]:
        return {**self.payload, "sampled_at": time.time()}
