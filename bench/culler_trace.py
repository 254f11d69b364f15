"""Replay a reference GPU usage trace in simulated time through the culler's real policy.

Usage: python bench/culler_trace.py [--users 30] [--weeks 4] [--seed 7]
                                    [--sessions mixed|full-day|both]

The trace (generated from the seed; every assumption below is a parameter in ``Trace`` or
``SessionKind``):

* ``users`` researchers over ``weeks`` weeks of working days (Mon-Fri). On a day, a user runs a
  GPU session with probability 0.6, on one GPU.
* Session lengths, the reference ("mixed"): a task of 1-3 h starting 09:00-16:00 (45%), a
  half day of 3-5 h starting 09:00-13:00 (35%), or the whole working day, 09:00-10:30 until
  16:30-18:30 (20%). The stress variant ("full-day") makes every session a whole day.
* A session is a sequence of blocks until its planned end:
  - CPU-only preprocessing first (p 0.5, 15-60 min): at the desk, kernel output, GPU idle;
  - interactive GPU work (45%, 20-90 min): GPU bursts of 1-5 min, each followed by 2-12 min of
    thinking at the desk (present, GPU idle); the kernel prints while the GPU runs;
  - reading results at the desk (20%, 15-50 min): present, GPU idle, no kernel output;
  - a long silent training run (20%, 1-5 h): GPU busy, no output; the user walks away
    (p 0.7), closing the tab (p 0.5 of those);
  - a break away from the desk (15%, 15-90 min): not present, GPU idle; the tab stays open and
    keeps polling (p 0.6). A session that runs through 12:00-14:00 has a lunch break of 45-75
    min (once, in place of the next block).
* At the end the user stops the server (p 0.55) or forgets it (p 0.45), with the tab left open
  (p 0.5); a forgotten server is held until 09:00 the next working day (Friday's: Monday). One
  session in ten ends with a training run of 3-8 h left running before that.
* Presence: a person at the desk makes a key/click within every minute; when the culler's
  warning is shown to a present user who will use the GPU again in this session, they answer
  "keep my GPU" (p 0.8).
* Browser/kernel activity for stock jupyterhub-idle-culler: presence, kernel output, and an open
  tab (JupyterLab's polling). A silent kernel with the tab closed shows no activity.
* A server stopped by a culler is started again at the user's next minute at the desk in that
  session (their remaining work continues as in the trace); GPU work between the stop and then
  is the disruption, not replayed.

Simulated time is in one-minute steps; the culler runs every 60 s (stock: every 600 s, its
default) and ``decide()`` from jupyterhub_imagine.culler.decide is the code under test.

The oracle's idle-but-held hours are a floor: a policy that disrupts no session holds every idle
minute before a session's last GPU use. The script prints that floor beside the targets.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from jupyterhub_imagine.culler.decide import (
    Action,
    Observation,
    PolicySettings,
    ServerState,
    decide,
)

MIN = 60.0
DAY = 24 * 60  # minutes


@dataclass
class Minute:
    gpu: bool = False  # GPU active this minute
    present: bool = False  # a person interacting (keys, clicks, focus)
    tab: bool = False  # a JupyterLab tab open and polling
    output: bool = False  # kernel messages (counts as activity for the stock culler)


@dataclass
class Session:
    user: int
    start: int  # minute of the trace
    minutes: list[Minute] = field(default_factory=list)

    @property
    def last_gpu(self) -> int:
        """Offset of the minute after the last GPU use (0: never used)."""
        for i in range(len(self.minutes) - 1, -1, -1):
            if self.minutes[i].gpu:
                return i + 1
        return 0


@dataclass(frozen=True)
class SessionKind:
    """How long a kind of GPU session lasts and when it starts (minutes after midnight)."""

    name: str
    p: float
    start_from: int
    start_to: int
    min_length: int = 0
    max_length: int = 0  # 0: until the end of the working day (16:30-18:30)


# the reference: most GPU sessions are a task of a few hours, some a whole day
MIXED = (
    SessionKind("short", 0.45, 9 * 60, 16 * 60, 60, 180),
    SessionKind("half-day", 0.35, 9 * 60, 13 * 60, 180, 300),
    SessionKind("full-day", 0.20, 9 * 60, 10 * 60 + 30),
)
# the stress variant: every session lasts the whole working day, with a lunch break inside
FULL_DAY = (SessionKind("full-day", 1.0, 9 * 60, 10 * 60 + 30),)
MIXES = {"mixed": MIXED, "full-day": FULL_DAY}


@dataclass
class Trace:
    users: int = 30
    weeks: int = 4
    seed: int = 7
    kinds: tuple[SessionKind, ...] = MIXED
    p_session: float = 0.6
    p_forget: float = 0.45
    p_tab_left_open: float = 0.5
    p_keep: float = 0.8
    p_evening_training: float = 0.1

    def sessions(self) -> list[Session]:
        rng = random.Random(self.seed)
        out = []
        days = [d for d in range(self.weeks * 7) if d % 7 < 5]
        for user in range(self.users):
            for d in days:
                if rng.random() < self.p_session:
                    out.append(self.session(rng, user, d, days))
        return out

    def kind(self, rng: random.Random) -> SessionKind:
        r = rng.random()
        for kind in self.kinds:
            if r < kind.p:
                return kind
            r -= kind.p
        return self.kinds[-1]

    def session(self, rng: random.Random, user: int, day: int, days: list[int]) -> Session:
        kind = self.kind(rng)
        start = day * DAY + rng.randint(kind.start_from, kind.start_to)
        s = Session(user, start)
        if kind.max_length:
            end = start + rng.randint(kind.min_length, kind.max_length)
        else:
            end = day * DAY + rng.randint(16 * 60 + 30, 18 * 60 + 30)
        had_lunch = (start % DAY) >= 13 * 60  # sessions starting after lunch have none
        if rng.random() < 0.5:
            s.minutes += block(rng.randint(15, 60), present=True, tab=True, output=True)
        while start + len(s.minutes) < end:
            now = (start + len(s.minutes)) % DAY
            if not had_lunch and 12 * 60 <= now < 14 * 60:
                had_lunch = True
                s.minutes += away(rng, rng.randint(45, 75))
                continue
            s.minutes += self.activity_block(rng)
        if rng.random() < self.p_evening_training:
            s.minutes += training(rng, rng.randint(180, 480), leave=1.0)
        if rng.random() < self.p_forget:
            tab = rng.random() < self.p_tab_left_open
            later = [x for x in days if x > day]
            until = (later[0] * DAY if later else (day + 1) * DAY) + 9 * 60
            s.minutes += block(max(until - start - len(s.minutes), 0), tab=tab)
        return s

    @staticmethod
    def activity_block(rng: random.Random) -> list[Minute]:
        r = rng.random()
        if r < 0.45:
            out: list[Minute] = []
            length = rng.randint(20, 90)
            while len(out) < length:
                out += block(rng.randint(1, 5), gpu=True, present=True, tab=True, output=True)
                out += block(rng.randint(2, 12), present=True, tab=True)
            return out
        if r < 0.65:
            return block(rng.randint(15, 50), present=True, tab=True)
        if r < 0.85:
            return training(rng, rng.randint(60, 300), leave=0.7)
        return away(rng, rng.randint(15, 90))


def block(n: int, **flags: bool) -> list[Minute]:
    return [Minute(**flags) for _ in range(n)]


def away(rng: random.Random, n: int) -> list[Minute]:
    return block(n, tab=rng.random() < 0.6)


def training(rng: random.Random, n: int, leave: float) -> list[Minute]:
    if rng.random() >= leave:
        return block(n, gpu=True, present=True, tab=True)
    tab = rng.random() < 0.5
    return block(3, gpu=True, present=True, tab=True) + block(n - 3, gpu=True, tab=tab)


# -- policies: each yields, per session, the minutes at which the server is held ---------------


@dataclass
class Outcome:
    held: list[bool]
    stops: list[int]  # offsets at which the policy stopped the server


Policy = Callable[[Session, random.Random], Outcome]


def no_culler(s: Session, rng: random.Random) -> Outcome:
    return Outcome([True] * len(s.minutes), [])


def oracle(s: Session, rng: random.Random) -> Outcome:
    last = s.last_gpu
    return Outcome([i < last for i in range(len(s.minutes))], [])


def restart_at(s: Session, after: int) -> int | None:
    """The user comes back: next minute at the desk after a stop."""
    for i in range(after, len(s.minutes)):
        if s.minutes[i].present:
            return i
    return None


def stock(timeout: float = 3600, every: int = 10) -> Policy:
    """jupyterhub-idle-culler: stop when browser/kernel activity is older than ``timeout``."""

    def run(s: Session, rng: random.Random) -> Outcome:
        held, stops = [False] * len(s.minutes), []
        i, last_activity = 0, 0
        while i < len(s.minutes):
            m = s.minutes[i]
            held[i] = True
            if m.present or m.tab or m.output:
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


def ours(settings: PolicySettings, p_keep: float, answers: bool = True) -> Policy:
    """IdleGPUCuller: decide() every minute with utilization and presence from the trace."""

    def run(s: Session, rng: random.Random) -> Outcome:
        held, stops = [False] * len(s.minutes), []
        last_gpu = s.last_gpu
        i, begun = 0, 0
        state, last_presence, keep = ServerState(), None, None
        while i < len(s.minutes):
            m = s.minutes[i]
            held[i] = True
            now = (s.start + i + 1) * MIN  # end of this minute: what the cycle has seen
            if m.present:
                last_presence = now
                # a present user sees a pending warning and answers it if they need the GPU
                wants = i < last_gpu and answers and rng.random() < p_keep
                if state.warned and wants and (keep is None or keep < state.warned_at):
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
                stops.append(i)
                back = restart_at(s, i + 1)
                if back is None:
                    break
                i = begun = back
                state, last_presence, keep = ServerState(), None, None
                continue
            i += 1
        return Outcome(held, stops)

    return run


@dataclass
class Totals:
    allocated: float = 0.0
    active: float = 0.0
    idle_held: float = 0.0
    idle_after_last: float = 0.0
    stops_gpu_active: int = 0
    disrupted: int = 0
    stops: int = 0

    def add(self, s: Session, o: Outcome) -> None:
        last = s.last_gpu
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
        self.disrupted += 1 if any(i < last for i in o.stops) else 0


def policies(p_keep: float) -> Iterator[tuple[str, Policy]]:
    yield "no culler", no_culler
    yield "jupyterhub-idle-culler, timeout 3600 s", stock()
    away = "presence_timeout"
    for label, kw in [
        (f"3600 + 900, {away} 5400 (defaults)", {}),
        (f"3600 + 600, {away} 5400", {"warning_lead": 600}),
        (f"1800 + 900, {away} 5400", {"gpu_idle_timeout": 1800}),
        (f"3600 + 900, {away} 900", {"presence_timeout": 900}),
        (f"1800 + 900, {away} 900", {"gpu_idle_timeout": 1800, "presence_timeout": 900}),
    ]:
        yield f"IdleGPUCuller {label}", ours(PolicySettings(**kw), p_keep)
    naive = PolicySettings(gpu_idle_timeout=1800, warning_lead=0, presence_holds=False)
    yield "naive GPU-idle timer 1800 s (ours, no presence/keep)", ours(naive, p_keep, False)
    yield "oracle (release at the session's last GPU use)", oracle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--sessions",
        choices=[*MIXES, "both"],
        default="both",
        help="session lengths: mixed (the reference), full-day (stress variant), or both",
    )
    args = parser.parse_args()
    for mix in MIXES if args.sessions == "both" else [args.sessions]:
        trace = Trace(users=args.users, weeks=args.weeks, seed=args.seed, kinds=MIXES[mix])
        replay(trace, mix)


def replay(trace: Trace, mix: str) -> None:
    sessions = trace.sessions()
    gpu_hours = sum(sum(m.gpu for m in s.minutes) for s in sessions) / 60
    print(
        f"\n== {mix} sessions: {trace.users} users, {trace.weeks} weeks, {len(sessions)} GPU "
        f"sessions, {gpu_hours:.0f} GPU-hours of GPU activity (seed {trace.seed})\n"
    )
    header = (
        f"{'policy':64} {'alloc h':>8} {'active h':>8} {'idle held':>9} {'idle>last':>9} "
        f"{'stops@GPU':>9} {'disrupted':>9} {'stops':>6}"
    )
    print(header)
    print("-" * len(header))
    results: dict[str, Totals] = {}
    for name, policy in policies(trace.p_keep):
        rng = random.Random(trace.seed + 1)
        totals = Totals()
        for s in sessions:
            totals.add(s, policy(s, rng))
        results[name] = totals
        print(
            f"{name:64} {totals.allocated:8.0f} {totals.active:8.0f} {totals.idle_held:9.0f} "
            f"{totals.idle_after_last:9.0f} {totals.stops_gpu_active:9d} {totals.disrupted:9d} "
            f"{totals.stops:6d}"
        )
    check(results)


def check(results: dict[str, Totals]) -> None:
    stock_t = next(t for n, t in results.items() if n.startswith("jupyterhub-idle-culler"))
    oracle_t = next(t for n, t in results.items() if n.startswith("oracle"))
    print(
        f"\nfloor: the oracle (no disruption) holds {oracle_t.idle_held:.0f} h idle = "
        f"{oracle_t.idle_held / max(stock_t.idle_held, 1e-9):.2f} of stock's; a policy that "
        "disrupts nothing cannot hold less"
    )
    print("targets (each IdleGPUCuller setting vs stock jupyterhub-idle-culler):")
    for name, t in results.items():
        if not name.startswith("IdleGPUCuller"):
            continue
        zero = t.stops_gpu_active == 0
        idle = t.idle_held <= stock_t.idle_held / 2
        disrupted = t.disrupted <= stock_t.stops_gpu_active / 2
        print(
            f"  {name}: stops during GPU activity = {t.stops_gpu_active} "
            f"[{'ok' if zero else 'MISSED'}]; idle held {t.idle_held:.0f} h vs stock "
            f"{stock_t.idle_held:.0f} h = {t.idle_held / max(stock_t.idle_held, 1e-9):.2f} "
            f"[{'ok' if idle else 'MISSED'} <= 0.5]; disrupted {t.disrupted} vs stock stops "
            f"during GPU activity {stock_t.stops_gpu_active} [{'ok' if disrupted else 'MISSED'}]"
        )


if __name__ == "__main__":
    main()
