"""Tokens for user servers on Kubernetes: one Secret per user, mounted where EGI Notebooks put it.

Manifests are built by pure functions; ``SecretWriter`` is the thin I/O part, over kubespawner's
shared ``CoreV1Api`` client unless another one is passed in.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Protocol

from kubespawner.slugs import safe_slug

from .token_files import FILE_NAMES

MOUNT_PATH = "/var/run/secrets/egi.eu"
VOLUME_NAME = "imagine-tokens"
LABELS = {
    "app.kubernetes.io/managed-by": "jupyterhub-imagine",
    "app.kubernetes.io/component": "user-tokens",
}


def secret_name(username: str) -> str:
    """A valid, collision-free object name for ``username``'s token Secret."""
    return f"imagine-tokens-{safe_slug(username, max_length=40)}"


def secret_manifest(
    name: str, namespace: str, tokens: Mapping[str, str], username: str
) -> dict[str, Any]:
    """The Secret holding ``tokens`` (file name -> token)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(LABELS),
            # Annotations accept any string; labels would not take every user name.
            "annotations": {"hub.jupyter.org/username": username},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in tokens.items()},
    }


def token_volume(name: str) -> dict[str, Any]:
    """The pod volume for the Secret; 0440 so that the pod's fsGroup (not others) can read it.

    Not ``subPath``: only whole-volume mounts see the Secret's updates, i.e. refreshed tokens.
    """
    return {
        "name": VOLUME_NAME,
        "secret": {"secretName": name, "defaultMode": 0o440, "optional": True},
    }


def token_volume_mount() -> dict[str, Any]:
    return {"name": VOLUME_NAME, "mountPath": MOUNT_PATH, "readOnly": True}


def server_env(kinds: list[str]) -> dict[str, str]:
    """Environment variables naming the mounted files."""
    return {FILE_NAMES[k]: f"{MOUNT_PATH}/{k}" for k in kinds}


def with_entry(entries: list[Any], entry: dict[str, Any]) -> list[Any]:
    """``entries`` with ``entry`` replacing any of the same name (no duplicates on respawn)."""
    kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") == entry["name"])]
    return [*kept, entry]


class SecretsAPI(Protocol):
    """The part of kubernetes_asyncio's CoreV1Api the writer uses."""

    async def create_namespaced_secret(self, namespace: str, body: Any) -> Any: ...
    async def replace_namespaced_secret(self, name: str, namespace: str, body: Any) -> Any: ...
    async def delete_namespaced_secret(self, name: str, namespace: str) -> Any: ...


def _status(error: Exception) -> int | None:
    return getattr(error, "status", None)


class SecretWriter:
    """Create or replace, and delete, token Secrets."""

    def __init__(self, api: SecretsAPI | None = None) -> None:
        self._api = api

    @property
    def api(self) -> SecretsAPI:
        if self._api is None:
            from kubespawner.clients import shared_client

            self._api = shared_client("CoreV1Api")
        return self._api

    async def apply(self, manifest: dict[str, Any]) -> None:
        meta = manifest["metadata"]
        try:
            await self.api.create_namespaced_secret(meta["namespace"], manifest)
        except Exception as e:
            if _status(e) != 409:
                raise
            await self.api.replace_namespaced_secret(meta["name"], meta["namespace"], manifest)

    async def delete(self, name: str, namespace: str) -> bool:
        """Delete the Secret; False when it was already gone."""
        try:
            await self.api.delete_namespaced_secret(name, namespace)
        except Exception as e:
            if _status(e) == 404:
                return False
            raise
        return True
