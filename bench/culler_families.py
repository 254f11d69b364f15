"""Behaviour families of GPU sessions for bench/culler_trace.py, each with its assumptions.

A trace is a list of sessions; a session is one minute after another of what the person and the
GPU do. Every family is generated from a seed; all numbers below are parameters of
``Family`` or of the generator functions, so a platform can replay its own.

Shared by all families (the reference's assumptions, kept so families compare):

* ``users`` researchers over ``weeks`` weeks of working days (Mon-Fri); on a day a user runs a
  GPU session with probability 0.6, on one GPU.
* **Interactive work**: GPU bursts of 1-5 min (the kernel prints), each followed by 2-12 min of
  thinking or editing at the desk (GPU idle).
* **At the desk** a person makes a key or click within every minute: in JupyterLab that is
  reported presence. From a non-Lab client (VS Code, a terminal, the classic notebook, the REST
  API) the server sees only what the person does through it: execute requests, file saves,
  terminal input (``Minute.signal``).
* **Ending**: the user stops the server (p 0.55) or forgets it (p 0.45) with its tab or client
  left open (p 0.5); a forgotten server is held until 09:00 the next working day.
* **Keep answers**: a person at the desk who will use the GPU again in this session answers a
  pending warning with "keep my GPU" (p 0.8 in Lab; p 0.5 away from Lab, where the warning
  arrives by the notification hook's mail or chat).
* **Restart**: a server stopped by a culler is started again at the person's next minute at the
  desk in that session; the GPU work before that is the disruption, not replayed.
* **Stock jupyterhub-idle-culler** sees activity from presence, kernel output and an open tab or
  client (its polling).

The families:

* ``mixed`` (the reference): the trace of earlier measurements: tasks of 1-3 h (45%), half
  days (35%), whole days (20%); blocks of interactive work (45%), reading at the desk (20%),
  silent training of 1-5 h, the user walking away (p 0.7) and closing the tab (p 0.5 of those)
  (20%), breaks of 15-90 min (15%) and lunch; one session in ten ends with a training run of
  3-8 h left running.
* ``reading``: interactive work of 20-90 min alternating with long reading at the desk of
  30-150 min (results, papers, plots), 2-6 h sessions starting 09:00-14:00.
* ``overnight``: an afternoon of interactive work (30-90 min, from 13:00-16:00), then a silent
  training run started before leaving that ends at 01:00-05:00; the tab is left open (p 0.5);
  the user is back at 08:30-10:00, reads the results (15-45 min) and works 30-120 min more.
* ``meetings``: 3-6 h sessions of interactive work and reading with one or two 60-120 min
  meetings in the middle (tab left open, p 0.8), after which work on the GPU resumes.
* ``background-tab``: interactive work, then the tab sits in a background window for 2-6 h
  (polling, nobody there); the user comes back to work again (p 0.5) or not.
* ``non-lab``: the reference's sessions used from a non-Lab client: presence only on execute
  requests (the first minute of each burst or run), file saves (every 3-8 min while editing
  between bursts) and nothing while reading or thinking; the client polls while open.
* ``forgotten``: 30-120 min of interactive work, then the server is forgotten, always: with the
  tab open (p 0.5) or closed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

DAY = 24 * 60  # minutes


@dataclass
class Minute:
    gpu: bool = False  # GPU active this minute
    present: bool = False  # a person at the desk (sees a warning, restarts a stopped server)
    tab: bool = False  # a JupyterLab tab or other client open and polling
    output: bool = False  # kernel messages (counts as activity for the stock culler)
    signal: bool | None = None  # presence reported this minute; None: same as ``present``

    @property
    def reported(self) -> bool:
        return self.present if self.signal is None else self.signal


@dataclass
class Session:
    user: int
    start: int  # minute of the trace
    minutes: list[Minute] = field(default_factory=list)
    p_keep: float = 0.8  # chance that a present user answers a warning they need to answer

    @property
    def last_gpu(self) -> int:
        """Offset of the minute after the last GPU use (0: never used)."""
        for i in range(len(self.minutes) - 1, -1, -1):
            if self.minutes[i].gpu:
                return i + 1
        return 0


def block(n: int, **flags: bool) -> list[Minute]:
    return [Minute(**flags) for _ in range(max(n, 0))]


def away(rng: random.Random, n: int, p_tab: float = 0.6) -> list[Minute]:
    return block(n, tab=rng.random() < p_tab)


def training(rng: random.Random, n: int, leave: float) -> list[Minute]:
    if rng.random() >= leave:
        return block(n, gpu=True, present=True, tab=True)
    tab = rng.random() < 0.5
    return block(3, gpu=True, present=True, tab=True) + block(n - 3, gpu=True, tab=tab)


def interactive(rng: random.Random, length: int) -> list[Minute]:
    out: list[Minute] = []
    while len(out) < length:
        out += block(rng.randint(1, 5), gpu=True, present=True, tab=True, output=True)
        out += block(rng.randint(2, 12), present=True, tab=True)
    return out


def reading(n: int) -> list[Minute]:
    return block(n, present=True, tab=True)


@dataclass
class Family:
    """A behaviour family: how one session is generated, plus the shared parameters."""

    name: str
    session: Callable[[Family, random.Random, int, int, list[int]], Session]
    users: int = 30
    weeks: int = 2
    seed: int = 7
    p_session: float = 0.6
    p_forget: float = 0.45
    p_tab_left_open: float = 0.5
    p_keep: float = 0.8

    def sessions(self) -> list[Session]:
        rng = random.Random(self.seed)
        out = []
        days = [d for d in range(self.weeks * 7) if d % 7 < 5]
        for user in range(self.users):
            for d in days:
                if rng.random() < self.p_session:
                    s = self.session(self, rng, user, d, days)
                    s.p_keep = self.p_keep
                    out.append(s)
        return out

    def end(
        self, rng: random.Random, s: Session, day: int, days: list[int], p_forget: float
    ) -> None:
        """The user stops the server, or forgets it until 09:00 the next working day."""
        if rng.random() >= p_forget:
            return
        tab = rng.random() < self.p_tab_left_open
        later = [x for x in days if x > day]
        until = (later[0] * DAY if later else (day + 1) * DAY) + 9 * 60
        s.minutes += block(until - s.start - len(s.minutes), tab=tab)


def mixed_session(f: Family, rng: random.Random, user: int, day: int, days: list[int]) -> Session:
    r = rng.random()
    if r < 0.45:
        start = day * DAY + rng.randint(9 * 60, 16 * 60)
        end = start + rng.randint(60, 180)
    elif r < 0.80:
        start = day * DAY + rng.randint(9 * 60, 13 * 60)
        end = start + rng.randint(180, 300)
    else:
        start = day * DAY + rng.randint(9 * 60, 10 * 60 + 30)
        end = day * DAY + rng.randint(16 * 60 + 30, 18 * 60 + 30)
    s = Session(user, start)
    had_lunch = (start % DAY) >= 13 * 60
    if rng.random() < 0.5:
        s.minutes += block(rng.randint(15, 60), present=True, tab=True, output=True)
    while start + len(s.minutes) < end:
        now = (start + len(s.minutes)) % DAY
        if not had_lunch and 12 * 60 <= now < 14 * 60:
            had_lunch = True
            s.minutes += away(rng, rng.randint(45, 75))
            continue
        s.minutes += mixed_block(rng)
    if rng.random() < 0.1:
        s.minutes += training(rng, rng.randint(180, 480), leave=1.0)
    f.end(rng, s, day, days, f.p_forget)
    return s


def mixed_block(rng: random.Random) -> list[Minute]:
    r = rng.random()
    if r < 0.45:
        return interactive(rng, rng.randint(20, 90))
    if r < 0.65:
        return reading(rng.randint(15, 50))
    if r < 0.85:
        return training(rng, rng.randint(60, 300), leave=0.7)
    return away(rng, rng.randint(15, 90))


def reading_session(f: Family, rng: random.Random, user: int, day: int, days: list[int]) -> Session:
    s = Session(user, day * DAY + rng.randint(9 * 60, 14 * 60))
    end = s.start + rng.randint(120, 360)
    while s.start + len(s.minutes) < end:
        s.minutes += interactive(rng, rng.randint(20, 90))
        s.minutes += reading(rng.randint(30, 150))
    s.minutes += interactive(rng, rng.randint(10, 30))
    f.end(rng, s, day, days, f.p_forget)
    return s


def overnight_session(
    f: Family, rng: random.Random, user: int, day: int, days: list[int]
) -> Session:
    s = Session(user, day * DAY + rng.randint(13 * 60, 16 * 60))
    s.minutes += interactive(rng, rng.randint(30, 90))
    s.minutes += block(3, gpu=True, present=True, tab=True)
    ends = (day + 1) * DAY + rng.randint(60, 5 * 60)
    tab = rng.random() < 0.5
    s.minutes += block(ends - s.start - len(s.minutes), gpu=True, tab=tab)
    back = (day + 1) * DAY + rng.randint(8 * 60 + 30, 10 * 60)
    s.minutes += block(back - s.start - len(s.minutes), tab=tab)
    s.minutes += reading(rng.randint(15, 45))
    s.minutes += interactive(rng, rng.randint(30, 120))
    f.end(rng, s, day + 1, days, f.p_forget)
    return s


def meetings_session(
    f: Family, rng: random.Random, user: int, day: int, days: list[int]
) -> Session:
    s = Session(user, day * DAY + rng.randint(9 * 60, 13 * 60))
    end = s.start + rng.randint(180, 360)
    meetings = rng.randint(1, 2)
    while s.start + len(s.minutes) < end or meetings:
        s.minutes += interactive(rng, rng.randint(20, 60))
        if rng.random() < 0.4:
            s.minutes += reading(rng.randint(15, 45))
        if meetings and len(s.minutes) > 40:
            meetings -= 1
            s.minutes += away(rng, rng.randint(60, 120), p_tab=0.8)
    f.end(rng, s, day, days, f.p_forget)
    return s


def background_tab_session(
    f: Family, rng: random.Random, user: int, day: int, days: list[int]
) -> Session:
    s = Session(user, day * DAY + rng.randint(9 * 60, 13 * 60))
    s.minutes += interactive(rng, rng.randint(30, 120))
    s.minutes += away(rng, rng.randint(120, 360), p_tab=1.0)
    if rng.random() < 0.5:
        s.minutes += interactive(rng, rng.randint(20, 90))
    f.end(rng, s, day, days, f.p_forget)
    return s


def non_lab_session(f: Family, rng: random.Random, user: int, day: int, days: list[int]) -> Session:
    s = mixed_session(f, rng, user, day, days)
    for i, m in enumerate(s.minutes):
        execute = m.gpu and m.present and (i == 0 or not s.minutes[i - 1].gpu)
        m.signal = execute
    # saves every 3-8 min while editing between bursts (at the desk, at most 12 min after one)
    i, after_gpu = 0, 99
    while i < len(s.minutes):
        m = s.minutes[i]
        after_gpu = 0 if m.gpu else after_gpu + 1
        if m.present and 0 < after_gpu <= 12 and rng.random() < 1 / rng.randint(3, 8):
            m.signal = True
        i += 1
    return s


def forgotten_session(
    f: Family, rng: random.Random, user: int, day: int, days: list[int]
) -> Session:
    s = Session(user, day * DAY + rng.randint(9 * 60, 17 * 60))
    s.minutes += interactive(rng, rng.randint(30, 120))
    f.end(rng, s, day, days, 1.0)
    return s


def families(users: int, weeks: int, seed: int) -> list[Family]:
    kw = {"users": users, "weeks": weeks, "seed": seed}
    return [
        Family("mixed", mixed_session, **kw),
        Family("reading", reading_session, **kw),
        Family("overnight", overnight_session, **kw),
        Family("meetings", meetings_session, **kw),
        Family("background-tab", background_tab_session, **kw),
        Family("non-lab", non_lab_session, p_keep=0.5, **kw),
        Family("forgotten", forgotten_session, **kw),
    ]
