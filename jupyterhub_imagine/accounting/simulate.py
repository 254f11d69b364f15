"""Generated session records for demos, tests and benches, with the generator's own sums."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .periods import Period

COMMUNITIES = ["egi:vo.imagine.example", "egi:vo.access.example", "umbrellaid:umbrellaid",
               "kc:imagine"]
COUNTRIES = ["DE", "FR", "IT", "ES", "NL", "PL", "GB", "CZ", "unknown"]
PROFILES = [  # slug, cpus, memory, gpus, gpu type, MIG
    ("cpu", 2.0, 4 * 2**30, 0.0, "", ""),
    ("gpu-a100", 8.0, 32 * 2**30, 1.0, "NVIDIA A100-SXM4-40GB", ""),
    ("gpu-a100-x2", 16.0, 64 * 2**30, 2.0, "NVIDIA A100-SXM4-40GB", ""),
    ("mig-1g", 4.0, 16 * 2**30, 1.0, "NVIDIA A100-SXM4-40GB", "1g.5gb"),
]


@dataclass
class Sums:
    """What the report must show for one period, counted here row by row."""

    sessions: int = 0
    cpu_s: float = 0.0
    gpu_s: float = 0.0
    active_s: float = 0.0
    idle_s: float = 0.0
    energy_j: float = 0.0
    users: set[str] = field(default_factory=set)
    countries: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def _session(rng: random.Random, start: float, users: int) -> dict[str, Any]:
    user = rng.randrange(users)
    slug, cpus, mem, gpus, gpu_type, mig = PROFILES[rng.randrange(len(PROFILES))]
    length = rng.uniform(600, 12 * 3600)
    measured = length * gpus
    active = measured * rng.uniform(0.1, 0.8)
    idle = (measured - active) * rng.uniform(0.5, 1.0)
    return {
        "session_uid": str(uuid.UUID(int=rng.getrandbits(128))),
        "user_key": f"u{user:06d}",
        "server_key": f"s{user:06d}",
        "hub_started": None,
        "community": COMMUNITIES[user % len(COMMUNITIES)],
        "country": COUNTRIES[(user // len(COMMUNITIES)) % len(COUNTRIES)],
        "profile": slug, "cpus": cpus, "mem_bytes": mem, "gpus": gpus,
        "gpu_type": gpu_type, "mig": mig,
        "start_ts": start, "ready_ts": start + 5, "stop_ts": start + length,
        "stop_reason": "culler" if idle > active else "user", "stop_detail": None,
        "gpu_active_s": active, "gpu_idle_s": idle, "gpu_unknown_s": measured - active - idle,
        "postponements": 0,
        "energy_j": (active * 300 + idle * 60) if gpus and user % 3 else None,
    }


def generate(first: float, last: float, count: int, users: int = 500,
             seed: int = 19, chunk: int = 50_000) -> Iterator[list[dict[str, Any]]]:
    """``count`` sessions starting uniformly in [first, last), in lists of ``chunk``, in the
    order they start (as the hub writes them)."""
    rng = random.Random(seed)
    starts = sorted(rng.uniform(first, last) for _ in range(count))
    for i in range(0, count, chunk):
        yield [_session(rng, start, users) for start in starts[i:i + chunk]]


def add(sums: dict[str, Sums], rows: list[dict[str, Any]], periods: list[Period]) -> None:
    """Add ``rows`` to per-period sums, splitting sessions across period boundaries."""
    for r in rows:
        duration = r["stop_ts"] - r["start_ts"]
        for p in periods:
            overlap = min(r["stop_ts"], p.end) - max(r["start_ts"], p.start)
            if overlap <= 0:
                continue
            frac = overlap / duration
            s = sums.setdefault(p.label, Sums())
            s.sessions += p.start <= r["start_ts"] < p.end
            s.cpu_s += overlap * r["cpus"]
            s.gpu_s += overlap * r["gpus"]
            s.active_s += r["gpu_active_s"] * frac
            s.idle_s += r["gpu_idle_s"] * frac
            s.energy_j += (r["energy_j"] or 0.0) * frac
            s.users.add(r["user_key"])
            s.countries[r["country"]].add(r["user_key"])
