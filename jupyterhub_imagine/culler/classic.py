"""Servers without GPUs: jupyterhub-idle-culler's classic loop, run only when it has work.

``cull_idle`` lists every user again; on a hub with thousands of servers that doubles the cost
of a cycle. With its default arbiter its decision depends only on ``last_activity``,
``started`` and the limits, all of which our own listing already holds, so a cycle in which
no CPU server is due skips it and gives the same result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable
from typing import Any

from jupyterhub_idle_culler import cull_idle, default_cull_arbiter
from traitlets import Bool, Int
from traitlets import Callable as CallableTrait
from traitlets.config import Configurable

from .hub import HubServer, epoch
from .store import ServerKey


def classic_due(
    servers: Iterable[HubServer],
    now: float,
    *,
    timeout: float,
    max_age: float,
    skip: Collection[str],
) -> list[str]:
    """``user/server`` of the servers jupyterhub-idle-culler's default arbiter would cull now.

    ``skip``: full names of GPU servers (ours). Same rules as its ``handle_server``: inactivity
    from ``last_activity`` (or the start when there is none), then ``max_age`` from the start.
    """
    due = []
    for server in servers:
        if server.log_name in skip:
            continue
        started = epoch(server.started)
        last = epoch(server.last_activity)
        age = None if started is None else now - started
        inactive = age if last is None else now - last
        if (
            inactive is not None
            and inactive >= timeout
            or max_age
            and age is not None
            and age >= max_age
        ):
            due.append(server.log_name)
    return due


class ClassicCulling(Configurable):
    """Mixin of IdleGPUCuller: jupyterhub-idle-culler's options and its loop for CPU servers."""

    cull_cpu_servers = Bool(
        True,
        config=True,
        help="Run jupyterhub-idle-culler's classic loop for servers without GPUs each cycle.",
    )
    timeout = Int(3600, config=True, help="Classic idle timeout (s) for servers without GPUs.")
    max_age = Int(0, config=True, help="Classic max_age (s), applied to every server. 0: off.")
    cull_users = Bool(False, config=True, help="Classic cull_users (needs admin:users).")
    cull_admin_users = Bool(True, config=True, help="Classic cull_admin_users.")
    api_page_size = Int(0, config=True, help="Users per page when listing. 0: hub default.")
    cpu_cull_arbiter_hook = CallableTrait(
        default_cull_arbiter,
        config=True,
        help="jupyterhub-idle-culler cull_arbiter_hook for servers without GPUs.",
    )

    # provided by IdleGPUCuller
    log: logging.Logger
    api_url: str
    api_token: str
    remove_named_servers: bool
    concurrency: int
    gpu_full_names: set[str]
    metrics: Any
    store: Any
    clock: Any
    hub: Any

    def cpu_arbiter(self, *, inactive: Any, inactive_limit: int, server: dict[str, Any]) -> Any:
        """GPU servers are ours; everything else gets the classic decision."""
        if server.get("full_name") in self.gpu_full_names:
            return False
        return self.cpu_cull_arbiter_hook(
            inactive=inactive, inactive_limit=inactive_limit, server=server
        )

    def classic_needed(self, servers: list[HubServer]) -> list[str] | None:
        """Servers the classic loop would cull now; None when that cannot be predicted."""
        if self.cull_users or self.cpu_cull_arbiter_hook is not default_cull_arbiter:
            return None
        # jupyterhub-idle-culler measures with the wall clock, so do we here
        return classic_due(
            servers,
            time.time(),
            timeout=self.timeout,
            max_age=self.max_age,
            skip=self.gpu_full_names,
        )

    async def cull_cpu(self, servers: list[HubServer]) -> list[Any]:
        """Run the classic loop when it has work; returns the events of the servers it stopped.

        What it stopped is read back from the hub afterwards (the loop reports nothing), so
        a delete that failed, or a server it spared, is not recorded as a stop.
        """
        due = self.classic_needed(servers)
        if due == []:
            return []  # nothing to cull: skip its second listing of every user
        try:
            await cull_idle(
                url=self.api_url,
                api_token=self.api_token,
                inactive_limit=self.timeout,
                logger=self.log,
                cull_users=self.cull_users,
                remove_named_servers=self.remove_named_servers,
                max_age=self.max_age,
                concurrency=self.concurrency,
                cull_admin_users=self.cull_admin_users,
                api_page_size=self.api_page_size,
                cull_arbiter=self.cpu_arbiter,
            )
        except Exception as e:  # noqa: BLE001 - the classic loop must not stop the GPU loop
            self.log.error("Classic culling cycle failed: %s", e)
        candidates = [s for s in servers if s.log_name not in self.gpu_full_names]
        if due is not None:
            candidates = [s for s in candidates if s.log_name in due]
        stopped = [s for s in candidates if not await self._still_running(s)]
        reason = "classic: inactive or too old (jupyterhub-idle-culler)"
        for server in stopped:
            self.log.info("%s: classic-stop: %s", server.log_name, reason)
        return [(self.clock(), ServerKey.of(s), "classic-stop", reason) for s in stopped]

    async def _still_running(self, server: HubServer) -> bool:
        try:
            return bool(await self.hub.is_running(ServerKey.of(server)))
        except Exception as e:  # noqa: BLE001 - unknown: not recorded as stopped
            self.log.debug("%s: could not ask the hub: %s", server.log_name, e)
            return True
