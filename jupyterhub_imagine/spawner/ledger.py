"""Which GPU devices each server holds on a single machine, persisted so a hub restart keeps it."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .quota import Holding


@dataclass(frozen=True)
class Allocation:
    server: str  # "user/server_name"
    devices: tuple[str, ...]  # device or MIG instance UUIDs
    profile: str
    since: float
    user: str = ""
    groups: tuple[str, ...] = ()  # the user's groups at allocation, for group quotas

    def holding(self) -> Holding:
        user = self.user or self.server.rsplit("/", 1)[0]  # ledgers written before `user`
        return Holding(user, frozenset(self.groups), len(self.devices))


class AllocationLedger:
    """A JSON file of allocations; callers serialize access (one hub process owns it)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._allocations: dict[str, Allocation] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text())
        except ValueError as exc:
            raise ValueError(f"GPU allocation ledger {self.path} is corrupt: {exc}") from None
        for server, entry in data.get("allocations", {}).items():
            self._allocations[server] = Allocation(
                server,
                tuple(entry["devices"]),
                entry.get("profile", ""),
                entry.get("since", 0.0),
                entry.get("user", ""),
                tuple(entry.get("groups", ())),
            )

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "allocations": {
                a.server: {
                    "devices": list(a.devices),
                    "profile": a.profile,
                    "since": a.since,
                    "user": a.user,
                    "groups": sorted(a.groups),
                }
                for a in self._allocations.values()
            }
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, self.path)

    def held(self) -> set[str]:
        return {d for a in self._allocations.values() for d in a.devices}

    def get(self, server: str) -> Allocation | None:
        return self._allocations.get(server)

    def holdings(self) -> dict[str, Holding]:
        """GPUs held per server, with their users and groups (for quota checks)."""
        return {s: a.holding() for s, a in self._allocations.items()}

    def allocate(
        self,
        server: str,
        candidates: list[str],
        count: int,
        profile: str,
        user: str = "",
        groups: Iterable[str] = (),
    ) -> Allocation | None:
        """Take ``count`` free devices among ``candidates`` for ``server``; None if too few."""
        self.release(server, save=False)
        held = self.held()
        free = [d for d in candidates if d not in held]
        if len(free) < count:
            self._save()
            return None
        allocation = Allocation(
            server, tuple(free[:count]), profile, time.time(), user, tuple(sorted(groups))
        )
        self._allocations[server] = allocation
        self._save()
        return allocation

    def release(self, server: str, save: bool = True) -> Allocation | None:
        allocation = self._allocations.pop(server, None)
        if save and allocation is not None:
            self._save()
        return allocation
