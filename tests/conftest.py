"""Shared fixtures: pytest-jupyter's real jupyter-server, and a FAKE kubeconfig."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FAKE_KUBECONFIG = """\
# FAKE: no Kubernetes API server runs in the tests. KubeSpawner loads a client configuration
# when it is constructed; nothing here is ever contacted (port 9 is discard).
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: fake, user: {token: fake}}]
contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: jhub}}]
current-context: fake
"""


@pytest.fixture
def fake_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point kubernetes_asyncio at FAKE_KUBECONFIG (never outside the cluster's own config)."""
    path = tmp_path / "FAKE-kubeconfig.yaml"
    path.write_text(FAKE_KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # kubernetes_asyncio reads $KUBECONFIG once, at import; its own tests move this default.
    from kubernetes_asyncio.config import kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    return path
