"""One emulated cluster per test module; a module may set CLUSTER (EmulatedCluster keywords)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import EmulatedCluster


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[EmulatedCluster]:
    """The chart deployed on a cluster emulated on this machine (FAKE API server and kubelet)."""
    settings = getattr(request.module, "CLUSTER", {})
    emulated = EmulatedCluster(tmp_path_factory.mktemp("cluster"), **settings).start()
    try:
        yield emulated
    finally:
        emulated.stop()
        errors = emulated.api.errors if emulated.api is not None else []
        assert not errors, "the FAKE control plane failed:\n" + "\n".join(errors)
