"""One shared list+watch of nodes and pods per hub, keeping a ClusterState current.

Reading nodes and pods of all namespaces needs a ClusterRole (list, watch on nodes and pods);
without it the watcher logs why and the spawner carries on without availability.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiException

from .cluster_state import ClusterState

_LIST_METHODS = {"nodes": "list_node", "pods": "list_pod_for_all_namespaces"}
# Finished pods hold nothing; leaving them out keeps the list small on busy clusters.
_FIELD_SELECTORS = {"nodes": "", "pods": "status.phase!=Succeeded,status.phase!=Failed"}


class ClusterWatcher:
    """Lists, then watches nodes and pods from the last resourceVersion; re-lists when needed."""

    def __init__(
        self,
        api: Any,
        product_label: str = "nvidia.com/gpu.product",
        log: logging.Logger | None = None,
        watch_seconds: int = 300,
        request_timeout: float = 60,
    ) -> None:
        self.api = api
        self.state = ClusterState(product_label)
        self.log = log or logging.getLogger(__name__)
        self.watch_seconds = watch_seconds
        self.request_timeout = request_timeout
        self._synced = {kind: asyncio.Event() for kind in _LIST_METHODS}
        self._tasks: list[asyncio.Task[None]] = []
        self.error = ""

    @property
    def synced(self) -> bool:
        return all(e.is_set() for e in self._synced.values())

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(kind)) for kind in _LIST_METHODS]

    async def wait_synced(self, timeout: float) -> bool:
        """True once both lists have loaded; False (availability unknown) after ``timeout``."""
        self.start()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(e.wait() for e in self._synced.values())), timeout
            )
        except asyncio.TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _handlers(self, kind: str) -> tuple[Callable[..., None], Callable[..., None]]:
        if kind == "nodes":
            return self.state.replace_nodes, self.state.apply_node
        return self.state.replace_pods, self.state.apply_pod

    async def _list(self, kind: str) -> str:
        method = getattr(self.api, _LIST_METHODS[kind])
        response = await method(
            field_selector=_FIELD_SELECTORS[kind],
            _preload_content=False,
            _request_timeout=self.request_timeout,
        )
        body = json.loads(await response.read())
        self._handlers(kind)[0](body.get("items") or [])
        self._synced[kind].set()
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, kind: str, resource_version: str) -> str:
        """Apply events until the server ends the watch; returns the last resourceVersion."""
        apply = self._handlers(kind)[1]
        method = partial(getattr(self.api, _LIST_METHODS[kind]), _preload_content=False)
        w = watch.Watch()
        try:
            async with w.stream(
                method,
                field_selector=_FIELD_SELECTORS[kind],
                resource_version=resource_version,
                timeout_seconds=self.watch_seconds,
                allow_watch_bookmarks=True,
                _request_timeout=self.watch_seconds + 30,
            ) as stream:
                async for event in stream:
                    obj = event["raw_object"]
                    if event["type"] != "BOOKMARK":
                        apply(event["type"], obj)
                    resource_version = obj["metadata"].get("resourceVersion") or resource_version
        finally:
            w.stop()
            await w.close()
        return resource_version

    async def _run(self, kind: str) -> None:
        delay = 0.5
        resource_version = ""
        while True:
            try:
                if not resource_version:
                    resource_version = await self._list(kind)
                resource_version = await self._watch(kind, resource_version)
                delay = 0.5
                self.error = ""
            except asyncio.CancelledError:
                raise
            except ApiException as exc:
                resource_version = ""  # 410 Gone and others: start again from a fresh list
                if exc.status in (401, 403):
                    self.error = f"cannot list {kind} ({exc.status}): give the hub a ClusterRole"
                else:
                    self.error = f"watching {kind} failed: {exc.status} {exc.reason}"
                self.log.warning("GPU availability: %s; retrying in %.1fs", self.error, delay)
            except Exception as exc:
                resource_version = ""
                self.error = f"watching {kind} failed: {exc!r}"
                self.log.warning("GPU availability: %s; retrying in %.1fs", self.error, delay)
            else:
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


_SHARED: dict[tuple[int, int, str], ClusterWatcher] = {}


def shared_watcher(
    api: Any, product_label: str, log: logging.Logger | None = None
) -> ClusterWatcher:
    """The one watcher of this event loop and API client (started on first use)."""
    key = (id(asyncio.get_running_loop()), id(api), product_label)
    if key not in _SHARED:
        _SHARED[key] = ClusterWatcher(api, product_label, log)
    watcher = _SHARED[key]
    watcher.start()
    return watcher
