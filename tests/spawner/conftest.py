"""Fixtures for ImagineKubeSpawner tests: the FAKE Kubernetes API and spawners built without a hub.

The spawner objects are real ImagineKubeSpawner instances; the hub user handed to them is a STUB
with a name, groups and auth state (no hub runs in these tests), and the Kubernetes API is FAKE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio.config import kube_config
from traitlets.config import Config

from jupyterhub_imagine.spawner import availability
from jupyterhub_imagine.spawner.kube import QUOTA_BOOK, ImagineKubeSpawner
from jupyterhub_imagine.upstream.kubespawner import offline, stop_all_reflectors

from .fake_kube import FakeKubeAPI, node, serve_fake

A100 = "NVIDIA-A100-SXM4-40GB"
MIG = "nvidia.com/mig-1g.10gb"

PROFILES: list[dict[str, Any]] = [
    {
        "display_name": "CPU",
        "slug": "cpu",
        "default": True,
        "kubespawner_override": {"cpu_guarantee": 1, "mem_guarantee": "2G"},
        "profile_options": {
            "image": {
                "display_name": "Image",
                "choices": {
                    "scipy": {"display_name": "SciPy",
                              "kubespawner_override": {"image": "quay.io/jupyter/scipy-notebook"}},
                    "r": {"display_name": "R",
                          "kubespawner_override": {"image": "quay.io/jupyter/r-notebook"}},
                },
                "unlisted_choice": {
                    "enabled": True,
                    "validation_regex": r"^quay\.io/[a-z0-9./_-]+(:[a-z0-9._-]+)?$",
                    "kubespawner_override": {"image": "{value}"},
                },
            }
        },
    },
    {
        "display_name": "1 × A100",
        "slug": "gpu-a100",
        "requires": ["gpu"],
        "gpu": {"count": 1, "type": A100},
        "kubespawner_override": {"image": "quay.io/jupyter/pytorch-notebook:cuda12",
                                 "mem_guarantee": "32G"},
    },
    {
        "display_name": "2 × A100",
        "slug": "gpu2-a100",
        "requires": ["gpu"],
        "gpu": {"count": 2, "type": A100},
    },
    {
        "display_name": "MIG 1g.10gb",
        "slug": "mig-1g",
        "requires": ["gpu"],
        "gpu": {"mig": MIG},
    },
]


class StubUser:
    """STUB of the hub's user: what the spawner reads from it (no hub runs here)."""

    def __init__(self, name: str, groups: tuple[str, ...] = (), caps: tuple[str, ...] = ()):
        self.name = name
        self.id = abs(hash(name)) % 10_000
        self.url = f"/user/{name}/"
        self.groups = [SimpleNamespace(name=g) for g in groups]
        self._auth_state = {"imagine": {"capabilities": list(caps), "groups": []}}

    async def get_auth_state(self) -> dict[str, Any]:
        return self._auth_state


@pytest_asyncio.fixture
async def fake_api(tmp_path, monkeypatch) -> AsyncIterator[FakeKubeAPI]:
    async with serve_fake(tmp_path) as fake:
        # KubeSpawner loads kubeconfig from the default location, read at import from $KUBECONFIG
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(fake.kubeconfig))
        await fake.put("nodes", node("a100-1", A100, gpus=4))
        await fake.put("nodes", node("a100-2", A100, gpus=4))
        await fake.put("nodes", node("mig-1", "NVIDIA-A100-SXM4-40GB", mig={MIG: 7}))
        await fake.put("nodes", node("cpu-1"))
        try:
            yield fake
        finally:
            await stop_all_reflectors()
            for w in list(availability._SHARED.values()):
                await w.stop()
            availability._SHARED.clear()
            QUOTA_BOOK.holdings.clear()
            await asyncio.sleep(0)


SpawnerFactory = Callable[..., ImagineKubeSpawner]


@pytest.fixture
def make_spawner(fake_api: FakeKubeAPI) -> SpawnerFactory:
    def make(user: StubUser, server: str = "", **traits: Any) -> ImagineKubeSpawner:
        c = Config()
        c.ImagineKubeSpawner.k8s_api_host = fake_api.url
        c.ImagineKubeSpawner.namespace = "jhub"
        c.ImagineKubeSpawner.profile_list = PROFILES
        c.ImagineKubeSpawner.image = "quay.io/jupyter/base-notebook"
        c.ImagineKubeSpawner.availability_sync_timeout = 5.0
        for key, value in traits.items():
            c.ImagineKubeSpawner[key] = value
        orm = SimpleNamespace(name=server, display_name=server, server=None, state=None)
        return offline(ImagineKubeSpawner, user=user, orm_spawner=orm, config=c)

    return make
