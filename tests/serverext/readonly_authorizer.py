"""An authorizer granting only "read" on the extension's resource, like a read-only share."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer


class ReadOnlyImagineAuthorizer(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "jupyterhub_imagine" or action == "read"
