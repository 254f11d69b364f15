"""TEST DOUBLE of JupyterHub's identity for a plain JupyterLab (no hub in these tests).

Under a hub, the idle-GPU culler reaches a server with its service token and
jupyterhub-singleuser's identity provider turns that into a hub identity of kind
"service". Here one fixed token stands for that culler identity; every other request
is authenticated by jupyter-server's own token and cookie login, as usual.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from jupyterhub.singleuser.extension import JupyterHubUser
from traitlets import Unicode


class CullerTokenIdentityProvider(IdentityProvider):
    """jupyter-server's identity provider plus one token that acts as the culler service."""

    culler_token = Unicode(
        config=True, help="Token that authenticates as the hub service named `culler_name`."
    )
    culler_name = Unicode(
        "imagine-culler", config=True, help="Hub service name the culler token stands for."
    )

    async def get_user_token(self, handler: Any) -> User | None:
        # jupyter-server's own get_user then marks the request token-authenticated (no XSRF)
        token = self.get_token(handler)
        if self.culler_token and token == self.culler_token:
            return JupyterHubUser({"kind": "service", "name": self.culler_name})
        return await super().get_user_token(handler)
