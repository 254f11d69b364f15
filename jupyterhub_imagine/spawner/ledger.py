"""Which GPU devices each server holds on a single machine, persisted so a hub restart keeps it."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Allocation:
    server: str  # "user/server_name"
    devices: tuple[str, ...]  # device or MIG instance UUIDs
    profile: str
    since: float


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
                server, tuple(entry["devices"]), entry.get("profile", ""), entry.get("since", 0.0)
            )

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "allocations": {
                a.server: {"devices": list(a.devices), "profile": a.profile, "since": a.since}
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

    def count_for_user(self, user: str) -> int:
        prefix = f"{user}/"
        return sum(len(a.devices) for s, a in self._allocations.items() if s.startswith(prefix))

    def allocate(
        self, server: str, candidates: list[str], count: int, profile: str
    ) -> Allocation | None:
        """Take ``count`` free devices among ``candidates`` for ``server``; None if too few."""
        self.release(server, save=False)
        held = self.held()
        free = [d for d in candidates if d not in held]
        if len(free) < count:
            self._save()
            return None
        allocation = Allocation(server, tuple(free[:count]), profile, time.time())
        self._allocations[server] = allocation
        self._save()
        return allocation

    def release(self, server: str, save: bool = True) -> Allocation | None:
        allocation = self._allocations.pop(server, None)
        if save and allocation is not None:
            self._save()
        return allocation
