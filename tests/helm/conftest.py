"""Fixtures for the chart tests: a chart copy with the TEST STUB of Z2JH, and a clean hub."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helm.chart import chart_copy

# Values every render needs (the chart refuses to render without them); the examples set them.
REQUIRED = {
    "jupyterhub": {
        "hub": {
            "image": {"name": "registry.example.org/imagine/k8s-hub", "tag": "0.1.0"},
            "existingSecret": "imagine-hub",
            "extraEnv": {
                "OAUTH_CLIENT_SECRET": {"valueFrom": {"secretKeyRef": {"name": "imagine-hub"}}}
            },
            "config": {"ImagineOAuthenticator": {"client_id": "imagine-notebooks"}},
        }
    }
}


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """helm/jupyterhub-imagine copied to tmp_path, with the TEST STUB as charts/jupyterhub."""
    return chart_copy(tmp_path)


@pytest.fixture
def clean_hub_singletons() -> Iterator[None]:
    """JupyterHub and CryptKeeper are process-wide singletons; start and end without them."""
    from jupyterhub.app import JupyterHub
    from jupyterhub.crypto import CryptKeeper

    JupyterHub.clear_instance()
    CryptKeeper.clear_instance()
    yield
    JupyterHub.clear_instance()
    CryptKeeper.clear_instance()


@pytest.fixture
def crypt_key() -> str:
    return secrets.token_hex(32)
