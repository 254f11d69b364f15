"""Shared fixtures: pytest-jupyter's real jupyter-server, and a FAKE kubeconfig."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

_BEFORE: dict[str, set] = {}


def _xdist_worker(config: pytest.Config) -> bool:
    """Under pytest-xdist the controller checks for leaks, once, around all the workers."""
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if _xdist_worker(session.config):
        return
    from tests.support import leaks

    _BEFORE["pids"] = set(leaks.processes())
    _BEFORE["mounts"] = leaks.fuse_mounts()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when it left processes or FUSE mounts behind (checked on full runs)."""
    if not _BEFORE or session.config.getoption("collectonly") or _xdist_worker(session.config):
        return
    import sys

    from tests.support import leaks

    basetemp = str(session.config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    mine = (str(Path(__file__).resolve().parents[1]), sys.prefix, basetemp)
    left = leaks.leftovers(_BEFORE["pids"], _BEFORE["mounts"], mine)
    if left:
        print("\n\nLEFT RUNNING AFTER THE TEST RUN (each is a leak):\n  " + "\n  ".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run a test that uses a FAKE without ``@pytest.mark.fake`` (tests/support/fakes.py
    says what counts as a fake)."""
    from tests.support import fakes

    missing = fakes.unmarked(items)
    if missing:
        raise pytest.UsageError(
            "These tests use a FAKE but are not marked @pytest.mark.fake (mark the test, or the "
            "module with `pytestmark = pytest.mark.fake`):\n  " + "\n  ".join(missing)
        )
