"""What ``jupyterhub_imagine.upstream.jupyterhub`` relies on in the installed JupyterHub.

These run on both hub lines (6.x and 5.5) and fail when JupyterHub stops keeping the spawn's
future on the spawner, or changes how it counts failed spawns. The behaviour through a real hub
(more refusals than ``consecutive_failure_limit``) is in ``tests/spawner/test_local_hub.py``.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from jupyterhub import spawner as hub_spawner
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.handlers.pages import SpawnHandler
from jupyterhub.spawner import LocalProcessSpawner, Spawner
from jupyterhub.user import User

from jupyterhub_imagine.upstream import jupyterhub as adapter


def test_the_spawn_future_lives_on_the_spawner():
    assert adapter.SPAWN_FUTURE in vars(Spawner) and Spawner._spawn_future is None
    source = inspect.getsource(BaseHandler.spawn_single_user)
    assert f"spawner.{adapter.SPAWN_FUTURE} = " in source  # set before Spawner.start runs
    # and JupyterHub's own explicit spawns drop a finished one, as forget_finished_spawn does
    assert f"spawner.{adapter.SPAWN_FUTURE} = None" in inspect.getsource(
        SpawnHandler._wrap_spawn_single_user
    )


def test_failure_counting_matches_what_the_adapter_assumes():
    source = inspect.getsource(BaseHandler.spawn_single_user)
    assert "self.settings['failure_count'] += 1" in source
    assert "add_done_callback(_track_failure_count)" in source
    guarded = "if status == ServerSpawnStatus.error:" in source  # 6.x: errors only
    assert adapter.HUB_COUNTS_REFUSALS is not guarded
    assert adapter.HUB_COUNTS_REFUSALS is not hasattr(hub_spawner, "SpawnException")


def test_group_overrides_are_applied_before_each_start():
    """ImagineKubeSpawner restores traits an earlier spawn's overrides changed in this hook."""
    source = inspect.getsource(User.spawn)
    assert source.index("apply_group_overrides()") < source.index("spawner.start()")


@pytest.mark.asyncio
async def test_forget_finished_spawn_drops_a_failed_spawn_only():
    spawner = LocalProcessSpawner()
    failed = asyncio.get_running_loop().create_future()
    failed.set_exception(RuntimeError("refused"))
    spawner._spawn_future = failed
    assert spawner._failed  # JupyterHub would refuse an implicit spawn now
    adapter.forget_finished_spawn(spawner)
    assert spawner._spawn_future is None and not spawner._failed
    pending = asyncio.get_running_loop().create_future()
    spawner._spawn_future = pending
    adapter.forget_finished_spawn(spawner)
    assert spawner._spawn_future is pending
    pending.cancel()


@pytest.mark.asyncio
async def test_a_refusal_inside_a_spawn_is_taken_back_from_the_count():
    """The callback order of 5.5's spawn_single_user: its counter first, then the adapter's."""
    spawner = LocalProcessSpawner(consecutive_failure_limit=3)
    spawner.handler = type("Handler", (), {"settings": {"failure_count": 1}})()
    future = asyncio.get_running_loop().create_future()
    spawner._spawn_future = future
    settings = spawner.handler.settings
    future.add_done_callback(lambda f: settings.update(failure_count=settings["failure_count"] + 1))
    adapter.keep_out_of_failure_count(spawner)
    expected = 1
    if adapter.HUB_COUNTS_REFUSALS:
        assert spawner.consecutive_failure_limit == 0  # no exit is scheduled for this one
    callbacks_done = asyncio.Event()
    future.add_done_callback(lambda f: callbacks_done.set())  # runs after those added before
    future.set_exception(RuntimeError("refused"))
    await asyncio.wait_for(callbacks_done.wait(), 10)
    assert isinstance(future.exception(), RuntimeError)
    assert settings["failure_count"] == (expected if adapter.HUB_COUNTS_REFUSALS else 2)
    assert spawner.consecutive_failure_limit == 3
