"""Concurrent-GPU quotas per user and per group, and who holds which GPU (pure).

One ``QuotaBook`` per hub process indexes what the hub's spawners hold. It is not a record of its
own: each spawner writes its holding into its state in the hub database (``get_state``) and puts
it back into the book when the hub restarts (``load_state``).

A user's own cap is ``per_user``, unless they belong to groups in ``per_group_member``: then the
most generous of those groups' caps applies (0 there means no limit). ``per_group_total`` caps
what all members of a group hold together; every group of the user with a total must have room.
Group names are hub groups, auth-state groups or capabilities, as in a profile's ``requires``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


def check_quota(in_use: int, requested: int, limit: int, who: str) -> str | None:
    """A reason string when ``requested`` more GPUs would take ``who`` over ``limit`` (0 = none)."""
    if limit and in_use + requested > limit:
        return (
            f"{who} may use at most {limit} GPU(s) at once and already uses {in_use}; "
            "stop another server first."
        )
    return None


@dataclass(frozen=True)
class QuotaLimits:
    per_user: int = 0
    per_group_member: Mapping[str, int] = field(default_factory=dict)
    per_group_total: Mapping[str, int] = field(default_factory=dict)

    def user_cap(self, groups: Iterable[str]) -> int:
        caps = [cap for group, cap in self.per_group_member.items() if group in set(groups)]
        if not caps:
            return self.per_user
        return 0 if 0 in caps else max(caps)


@dataclass(frozen=True)
class Holding:
    user: str
    groups: frozenset[str]
    gpus: int
    devices: tuple[str, ...] = ()  # device or MIG instance UUIDs, where the spawner picks them


def refusal(
    holdings: Mapping[str, Holding], server: str, wanted: Holding, limits: QuotaLimits
) -> str | None:
    """Why ``server`` may not hold ``wanted`` beside the other ``holdings``, or None.

    The server's own current holding is replaced, not added to (a restart of the same server).
    """
    if not wanted.gpus:
        return None
    others = [h for key, h in holdings.items() if key != server]
    used = sum(h.gpus for h in others if h.user == wanted.user)
    reason = check_quota(used, wanted.gpus, limits.user_cap(wanted.groups), wanted.user)
    if reason:
        return reason
    for group, total in sorted(limits.per_group_total.items()):
        if group in wanted.groups and total:
            used = sum(h.gpus for h in others if group in h.groups)
            if used + wanted.gpus > total:
                return (
                    f"Members of {group} may use at most {total} GPU(s) together and "
                    f"{used} are in use; try again when a colleague stops a server."
                )
    return None


class QuotaBook:
    """Who holds how many GPUs now. Methods never await: each call is atomic in the event loop."""

    def __init__(self) -> None:
        self.holdings: dict[str, Holding] = {}

    def try_acquire(
        self,
        server: str,
        user: str,
        groups: Iterable[str],
        gpus: int,
        limits: QuotaLimits,
        devices: tuple[str, ...] = (),
    ) -> str | None:
        """Record ``gpus`` for ``server`` (``user/name``), or return why the limits forbid it."""
        holding = Holding(user, frozenset(groups), gpus, devices)
        reason = refusal(self.holdings, server, holding, limits)
        if reason is None:
            self.restore(server, holding)
        return reason

    def restore(self, server: str, holding: Holding) -> None:
        """Record a holding without checks (servers still running after a hub restart)."""
        if holding.gpus:
            self.holdings[server] = holding
        else:
            self.holdings.pop(server, None)

    def release(self, server: str) -> Holding | None:
        return self.holdings.pop(server, None)

    def devices_held(self, but: str = "") -> set[str]:
        """Device UUIDs held by all servers except ``but``."""
        return {d for key, h in self.holdings.items() if key != but for d in h.devices}

    def free_devices(self, candidates: Iterable[str], but: str = "") -> list[str]:
        """``candidates`` no server except ``but`` holds, in their order."""
        held = self.devices_held(but)
        return [d for d in candidates if d not in held]

    def used_by(self, user: str) -> int:
        return sum(h.gpus for h in self.holdings.values() if h.user == user)
