"""JupyterHub details the bundle relies on without a public hook (JupyterHub 5.5 and 6.x).

Both concern the future JupyterHub's ``BaseHandler.spawn_single_user`` keeps on the spawner as
``spawner._spawn_future`` (set before ``Spawner.start`` is called, kept after a failure so that
``/user/<name>`` does not spawn again implicitly):

- ``keep_out_of_failure_count``: on 5.5, a refusal raised inside a spawn (quota, capacity, bad
  options) is kept out of ``handler.settings["failure_count"]``, which 5.5 increments for every
  failed spawn and at ``consecutive_failure_limit`` stops the hub. 6.x counts errors only (a
  ``SpawnException`` is a handled refusal), so there this is a no-op.
- ``forget_finished_spawn``: a finished spawn's future dropped before an explicit spawn that
  does not go through JupyterHub's spawn page (the launch links), as ``SpawnHandler`` does for
  its own explicit spawns.

``tests/upstream/test_jupyterhub.py`` fails when JupyterHub stops storing the future there or
changes how it counts failures; ``docs/upstream.md`` drafts the upstream change.
"""

from __future__ import annotations

from typing import Any

from jupyterhub import spawner as _hub_spawner

# True where the hub counts refused spawns toward consecutive_failure_limit (5.x: no
# SpawnException, every failed spawn counts).
HUB_COUNTS_REFUSALS: bool = not hasattr(_hub_spawner, "SpawnException")

SPAWN_FUTURE = "_spawn_future"


def spawn_future(spawner: Any) -> Any:
    """The future of the spawn in progress, or of the last failed one; None otherwise."""
    return getattr(spawner, SPAWN_FUTURE, None)


def forget_finished_spawn(spawner: Any) -> None:
    """Before an explicit spawn: drop the future of a finished (failed) earlier spawn.

    JupyterHub keeps a failed spawn's future to refuse implicit spawns after a failure; an
    explicit spawn must not be held back by it. A spawn still in progress is left alone.
    """
    future = spawn_future(spawner)
    if future is not None and future.done():
        setattr(spawner, SPAWN_FUTURE, None)


def keep_out_of_failure_count(spawner: Any) -> None:
    """Before raising a refusal inside a spawn: on 5.x, keep it out of the hub's failure count.

    JupyterHub 5.5 increments ``settings["failure_count"]`` in a done-callback of the spawn's
    future and exits when it reaches ``spawner.consecutive_failure_limit``. A callback added after
    it (they run back to back) takes the increment back, and the limit is 0 for this one failure
    so that the hub does not schedule its exit. A no-op on 6.x and outside a hub spawn.
    """
    if not HUB_COUNTS_REFUSALS:
        return
    future = spawn_future(spawner)
    handler = getattr(spawner, "handler", None)
    settings = getattr(handler, "settings", None)
    if future is None or future.done() or not isinstance(settings, dict):
        return
    limit = spawner.consecutive_failure_limit
    spawner.consecutive_failure_limit = 0

    def take_back(_future: Any) -> None:
        settings["failure_count"] = max(0, int(settings.get("failure_count", 0)) - 1)
        spawner.consecutive_failure_limit = limit

    future.add_done_callback(take_back)
