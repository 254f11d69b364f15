"""Replay GPU session traces in simulated time through the culler's real policy.

Usage: python bench/culler_trace.py [--users 30] [--weeks 4] [--seed 7] [--r 1.0]
                                    [--families mixed,reading,...]

The traces are behaviour families, each written down with its assumptions in
bench/culler_families.py: the mixed reference of earlier measurements, interactive work with long
reading, overnight training, meetings, a tab left in a background window, use from non-Lab
clients, forgotten servers. Per family and overall it prints, for no culler, stock
jupyterhub-idle-culler (3600 s, every 600 s), this culler at several settings, "park instead of
stop" and the oracle: GPU-hours allocated, active, idle held, idle after the session's last GPU
use; stops during GPU activity; disrupted sessions (stopped although the user used the GPU again
in that session); and the cost = idle GPU-hours + R x disrupted sessions (+ parking's restores,
each charged its restore time).

Simulated time is in one-minute steps; this culler runs every 60 s and ``decide()`` from
jupyterhub_imagine.culler.decide is the code under test.

"Park" models checkpointing the GPU state to host memory and releasing the GPU (the CUDA
driver's checkpoint API on recent drivers) where the policy would stop: no GPU is held while
parked, the server stays up, and the next GPU use restores it after ``--restore`` minutes (GPU
held, the person waits): no session is disrupted, each restore costs its minutes.

The oracle releases the GPU at the session's last GPU use and disrupts nothing; its idle-held
hours are the floor for a policy that disrupts no session.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from culler_families import Family, Session, families

from jupyterhub_imagine.culler.decide import (
    Action,
    Observation,
    PolicySettings,
    ServerState,
    decide,
)

MIN = 60.0


# -- policies: each yields, per session, the minutes at which the server is held ---------------


@dataclass
class Outcome:
    held: list[bool]
    stops: list[int]  # offsets at which the policy stopped the server
    restores: int = 0  # parked servers restored on their next GPU use


Policy = Callable[[Session, random.Random], Outcome]


def no_culler(s: Session, rng: random.Random) -> Outcome:
    return Outcome([True] * len(s.minutes), [])


def oracle(s: Session, rng: random.Random) -> Outcome:
    last = s.last_gpu
    return Outcome([i < last for i in range(len(s.minutes))], [])


def restart_at(s: Session, after: int) -> int | None:
    """The user starts a stopped server again when they next run something on the GPU at the
    desk (they notice then; ``--restart desk``: at their next minute at the desk, as in the
    first measurements). GPU work between the stop and then is lost."""
    for i in range(after, len(s.minutes)):
        m = s.minutes[i]
        if m.present and (m.gpu or RESTART == "desk"):
            return i
    return None


RESTART = "gpu"


def stock(timeout: float = 3600, every: int = 10) -> Policy:
    """jupyterhub-idle-culler: stop when browser/kernel activity is older than ``timeout``."""

    def run(s: Session, rng: random.Random) -> Outcome:
        held, stops = [False] * len(s.minutes), []
        i, last_activity = 0, 0
        while i < len(s.minutes):
            m = s.minutes[i]
            held[i] = True
            if m.reported or m.tab or m.output:
                last_activity = i
            if i % every == 0 and (i - last_activity) * MIN >= timeout:
                stops.append(i)
                back = restart_at(s, i + 1)
                if back is None:
                    break
                i = last_activity = back
                continue
            i += 1
        return Outcome(held, stops)

    return run


def ours(
    settings: PolicySettings, answers: bool = True, park: int = 0, lab_only: bool = False
) -> Policy:
    """IdleGPUCuller: decide() every minute with utilization and presence from the trace.

    ``park``: minutes a restore takes when the stop parks the GPU state instead (0: a stop).
    ``lab_only``: presence only from the labextension (v1: none from non-Lab clients).
    """

    def run(s: Session, rng: random.Random) -> Outcome:
        out = Outcome([False] * len(s.minutes), [])
        last_gpu = s.last_gpu
        i, begun = 0, 0
        state, last_presence, keep = ServerState(), None, None
        while i < len(s.minutes):
            m = s.minutes[i]
            out.held[i] = True
            now = (s.start + i + 1) * MIN  # end of this minute: what the cycle has seen
            if m.reported and not (lab_only and m.signal is not None):
                last_presence = now
            # a present user who needs the GPU again answers a pending warning
            needs = m.present and state.warned and answers and i < last_gpu
            unanswered = keep is None or keep < (state.warned_at or 0)
            if needs and unanswered and rng.random() < s.p_keep:
                keep = now
            obs = Observation(
                now=now,
                utilization=90.0 if m.gpu else 0.0,
                last_presence=last_presence,
                keep_requested_at=keep,
                started=(s.start + begun) * MIN,
            )
            d = decide(state, obs, settings)
            state = d.state
            if d.action == Action.STOP:
                out.stops.append(i)
                back = (parked_until if park else restart_at)(s, i + 1)
                if back is None:
                    break
                out.restores += 1 if park else 0
                for j in range(back, min(back + park, len(s.minutes))):
                    out.held[j] = True  # restoring: the GPU is held, the person waits
                i = begun = back
                state, keep = ServerState(), None
                last_presence = None if not park else last_presence
                continue
            i += 1
        return out

    return run


def parked_until(s: Session, after: int) -> int | None:
    """A parked server is restored at its next GPU use."""
    for i in range(after, len(s.minutes)):
        if s.minutes[i].gpu:
            return i
    return None


@dataclass
class Totals:
    allocated: float = 0.0
    active: float = 0.0
    idle_held: float = 0.0
    idle_after_last: float = 0.0
    stops_gpu_active: int = 0
    disrupted: int = 0
    stops: int = 0
    restores: int = 0
    restore_hours: float = 0.0
    sessions: int = 0

    def add(self, s: Session, o: Outcome, restore_min: int = 0) -> None:
        last = s.last_gpu
        self.sessions += 1
        for i, (m, h) in enumerate(zip(s.minutes, o.held, strict=True)):
            if not h:
                continue
            self.allocated += 1 / 60
            if m.gpu:
                self.active += 1 / 60
            else:
                self.idle_held += 1 / 60
            if i >= last:
                self.idle_after_last += 1 / 60
        self.stops += len(o.stops)
        self.stops_gpu_active += sum(1 for i in o.stops if s.minutes[i].gpu)
        self.restores += o.restores
        self.restore_hours += o.restores * restore_min / 60
        if not o.restores:
            self.disrupted += 1 if any(i < last for i in o.stops) else 0

    def merge(self, other: Totals) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def cost(self, r: float) -> float:
        return self.idle_held + r * self.disrupted + self.restore_hours


# The defaults of PolicySettings are what this bench chose (docs/culler.md says why).
DEFAULTS = PolicySettings()


def policies(restore_min: int) -> Iterator[tuple[str, Policy]]:
    for name, policy in all_policies(restore_min):
        if name in ("no culler", STOCK) or not ONLY or any(o in name for o in ONLY):
            yield name, policy


ONLY: list[str] = []  # --policies: substrings of the names to replay (and the references)
STOCK = "jupyterhub-idle-culler 3600 s"


def all_policies(restore_min: int) -> Iterator[tuple[str, Policy]]:
    yield "no culler", no_culler
    yield "jupyterhub-idle-culler 3600 s", stock()
    for label, kw in SETTINGS:
        yield f"ours {label}", ours(PolicySettings(**kw))
    # v1's settings and presence: no bound on presence holds, presence from Lab only (v1 also
    # counted the keep click as presence; that part is not modelled here)
    v1 = PolicySettings(
        gpu_idle_timeout=3600, presence_timeout=5400, presence_hold_max=1e9, unknown_restart_after=0
    )
    yield "v1 settings (3600+900, P 5400, no bound, Lab)", ours(v1, lab_only=True)
    yield f"park at the defaults' stop, {restore_min} min restore", ours(DEFAULTS, park=restore_min)
    eager = PolicySettings(gpu_idle_timeout=900, warning_lead=0, presence_holds=False)
    yield f"park after 900 s idle, {restore_min} min restore", ours(eager, False, restore_min)
    yield "oracle", oracle


def _t(idle: float, lead: float, presence: float, hold: float) -> tuple[str, dict[str, float]]:
    label = f"{idle:g}+{lead:g}, P {presence:g}, H {hold:g}"
    kw = {
        "gpu_idle_timeout": idle,
        "warning_lead": lead,
        "presence_timeout": presence,
        "presence_hold_max": hold,
    }
    if kw == {k: getattr(DEFAULTS, k) for k in kw}:
        label += " (defaults)"
    return label, kw


SETTINGS = [
    _t(3600, 900, 5400, 1800),
    _t(2700, 900, 1800, 5400),
    _t(1800, 900, 1800, 7200),
    _t(1800, 900, 1200, 7200),
    _t(1200, 600, 900, 7200),
]


COLUMNS = (
    f"{'policy':48} {'alloc h':>8} {'active h':>8} {'idle held':>9} {'idle>last':>9} "
    f"{'stops@GPU':>9} {'disrupted':>9} {'restores':>8} {'cost':>7} {'x stock':>7}"
)


def row(name: str, t: Totals, r: float, stock_cost: float) -> str:
    ratio = t.cost(r) / max(stock_cost, 1e-9)
    return (
        f"{name:48} {t.allocated:8.0f} {t.active:8.0f} {t.idle_held:9.0f} "
        f"{t.idle_after_last:9.0f} {t.stops_gpu_active:9d} {t.disrupted:9d} {t.restores:8d} "
        f"{t.cost(r):7.0f} {ratio:7.2f}"
    )


def replay(family: Family, r: float, restore_min: int) -> dict[str, Totals]:
    sessions = family.sessions()
    gpu_hours = sum(sum(m.gpu for m in s.minutes) for s in sessions) / 60
    print(
        f"\n== {family.name}: {family.users} users, {family.weeks} weeks, {len(sessions)} GPU "
        f"sessions, {gpu_hours:.0f} GPU-hours of GPU activity (seed {family.seed})\n"
    )
    results: dict[str, Totals] = {}
    for name, policy in policies(restore_min):
        rng = random.Random(family.seed + 1)
        totals = Totals()
        for s in sessions:
            totals.add(s, policy(s, rng), restore_min if name.startswith("park") else 0)
        results[name] = totals
    table(results, r)
    return results


def table(results: dict[str, Totals], r: float) -> None:
    stock_cost = results["jupyterhub-idle-culler 3600 s"].cost(r)
    print(COLUMNS)
    print("-" * len(COLUMNS))
    for name, t in results.items():
        print(row(name, t, r, stock_cost))


def check(per_family: dict[str, dict[str, Totals]], r: float) -> None:
    """The targets for the defaults: on every family no stop during GPU activity and cost at
    most 0.5x stock's; on the mixed reference idle held at most 25% of no culler's."""
    name = next((n for n in next(iter(per_family.values())) if n.endswith("(defaults)")), None)
    if name is None:
        return
    print(f"\ntargets for {name} (R = {r:g}):")
    ok = True
    for fam, results in per_family.items():
        t, st = results[name], results["jupyterhub-idle-culler 3600 s"]
        ratio = t.cost(r) / max(st.cost(r), 1e-9)
        good = t.stops_gpu_active == 0 and ratio <= 0.5
        line = (
            f"  {fam:15} stops during GPU activity {t.stops_gpu_active}, cost {ratio:.2f} x stock"
        )
        if fam == "mixed":
            share = t.idle_held / max(results["no culler"].idle_held, 1e-9)
            good = good and share <= 0.25
            line += f", idle held {share:.2f} of no culler's"
        ok = ok and good
        print(f"{line} [{'ok' if good else 'MISSED'}]")
    print(f"  all targets {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--r", type=float, default=1.0, help="GPU-hours per disrupted session")
    parser.add_argument("--restore", type=int, default=2, help="minutes a parked GPU restores in")
    parser.add_argument("--families", default="", help="comma-separated names (default: all)")
    parser.add_argument(
        "--restart", choices=["gpu", "desk"], default="gpu", help="when a stopped server restarts"
    )
    parser.add_argument("--policies", default="", help="comma-separated name parts to replay")
    parser.add_argument("--settings", default="", help="extra settings idle+lead,P,H;...")
    args = parser.parse_args()
    global RESTART
    RESTART = args.restart
    ONLY.extend(p for p in args.policies.split(",") if p)
    for spec in filter(None, args.settings.split(";")):
        times, presence, hold = spec.split(",")
        idle, lead = times.split("+")
        SETTINGS.append(_t(float(idle), float(lead), float(presence), float(hold)))
    chosen = [f for f in families(args.users, args.weeks, args.seed)]
    if args.families:
        wanted = args.families.split(",")
        chosen = [f for f in chosen if f.name in wanted]
    per_family = {f.name: replay(f, args.r, args.restore) for f in chosen}
    overall: dict[str, Totals] = {}
    for results in per_family.values():
        for name, t in results.items():
            overall.setdefault(name, Totals()).merge(t)
    print(f"\n== overall: {len(per_family)} families\n")
    table(overall, args.r)
    check(per_family, args.r)


if __name__ == "__main__":
    main()
