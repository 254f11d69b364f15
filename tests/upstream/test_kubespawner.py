"""What ``jupyterhub_imagine.upstream.kubespawner`` relies on in the installed KubeSpawner.

These run on both hub lines (KubeSpawner 7.1 with JupyterHub 6, 7.0 with JupyterHub 5.5) and fail
when KubeSpawner renames, re-shapes or changes the behaviour of a detail the adapter uses. The
spawner is a real KubeSpawner; its kubeconfig is FAKE and names an API server that is never
contacted.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
import pytest_asyncio
from kubespawner import KubeSpawner
from kubespawner.utils import recursive_format

from jupyterhub_imagine.upstream import kubespawner as adapter


@pytest_asyncio.fixture
async def spawner(fake_kubeconfig) -> KubeSpawner:
    """A KubeSpawner (it builds its API client in the running event loop; FAKE kubeconfig)."""
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", groups=[])
    orm = SimpleNamespace(name="", display_name="", server=None, state=None)
    return adapter.offline(KubeSpawner, user=user, orm_spawner=orm)


def test_apply_overrides_keeps_its_signature():
    params = list(inspect.signature(KubeSpawner._apply_overrides).parameters)
    assert params == ["self", "spawner_override"]


@pytest.mark.fake
@pytest.mark.asyncio
async def test_apply_override_has_the_documented_kubespawner_override_semantics(spawner):
    spawner.environment = {"KEEP": "1", "DROP": "2"}
    override = {
        "environment": {"ADDED": "3", "DROP": None},  # dicts merge; None removes a key
        "cpu_limit": 2.0,  # plain values replace
        "image": lambda s: f"quay.io/{s.user.name}/notebook",  # callables get the spawner
    }
    adapter.apply_override(spawner, override)
    assert spawner.environment == {"KEEP": "1", "ADDED": "3"}
    assert spawner.cpu_limit == 2.0
    assert spawner.image == "quay.io/alice/notebook"
    assert override["environment"] == {"ADDED": "3", "DROP": None}  # the profile is untouched


def test_unlisted_choices_are_formatted_as_kubespawner_formats_them():
    assert list(inspect.signature(recursive_format).parameters)[0] == "format_object"
    override = {"image": "{value}", "args": ["--tag={value}"], "env": {"TAG": "{value}"}}
    assert adapter.format_unlisted(override, "r") == {
        "image": "r", "args": ["--tag=r"], "env": {"TAG": "r"}
    }


def test_reflectors_can_be_stopped_for_all_spawners():
    stop = inspect.getattr_static(KubeSpawner, "_stop_all_reflectors")
    assert isinstance(stop, classmethod) and inspect.iscoroutinefunction(stop.__func__)
    assert list(inspect.signature(KubeSpawner._stop_all_reflectors).parameters) == []


def test_start_hands_out_the_future_progress_watches():
    """The bundle wraps ``start()`` with ensure_future and a done-callback: it must stay a
    future-returning call whose future ends ``progress()``, and call ``load_user_options``."""
    assert "self._start_future = " in inspect.getsource(KubeSpawner.start)
    assert "self._start_future" in inspect.getsource(KubeSpawner.progress)
    assert "await self.load_user_options()" in inspect.getsource(KubeSpawner._start)


def test_offline_switch_is_still_a_constructor_keyword():
    """``offline`` passes KubeSpawner's private ``_mock``: its __init__ must still pop it."""
    source = inspect.getsource(KubeSpawner.__init__)
    assert "kwargs.pop('_mock'" in source or 'kwargs.pop("_mock"' in source
