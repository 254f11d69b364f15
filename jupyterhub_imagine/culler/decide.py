"""Pure idle-GPU culling policy: plain data in, an action with a reason out.

No I/O and no clock: the caller passes ``now`` and persists the returned state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from ..contract import CullWarning


class Action(str, enum.Enum):
    """What the culler should do with one GPU server this cycle."""

    NONE = "none"
    WARN = "warn"
    STOP = "stop"
    POSTPONE = "postpone"
    CLEAR_WARNING = "clear-warning"


@dataclass(frozen=True)
class PolicySettings:
    """Policy knobs; times in seconds, utilization in percent (0-100)."""

    gpu_idle_timeout: float = 3600.0
    warning_lead: float = 900.0
    postpone_by: float = 3600.0
    max_postponements: int = 2
    idle_threshold: float = 5.0
    presence_timeout: float = 5400.0
    presence_holds: bool = True
    max_gpu_age: float = 0.0
    max_sample_gap: float = 300.0
    exempt_groups: frozenset[str] = field(default_factory=frozenset)
    exempt_profiles: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ServerState:
    """What the culler remembers about one running GPU server between cycles."""

    idle_seconds: float = 0.0
    last_observed: float | None = None
    warned_at: float | None = None
    stop_at: float | None = None
    postponements_used: int = 0
    last_keep_seen: float | None = None

    @property
    def warned(self) -> bool:
        return self.warned_at is not None


@dataclass(frozen=True)
class Observation:
    """One cycle's view of a GPU server.

    ``utilization`` is the highest GPU activity (percent) seen over the interval since the
    previous cycle, or None when metrics are missing or stale (unknown, never idle).
    """

    now: float
    utilization: float | None
    last_presence: float | None = None
    keep_requested_at: float | None = None
    started: float | None = None
    groups: frozenset[str] = field(default_factory=frozenset)
    profile: str = ""


@dataclass(frozen=True)
class Usage:
    """GPU-seconds to add to this server's accounting for the interval just observed."""

    active: float = 0.0
    idle: float = 0.0
    unknown: float = 0.0


@dataclass(frozen=True)
class Decision:
    """The action, a reason for the log, the state to persist and the usage to record."""

    action: Action
    reason: str
    state: ServerState
    usage: Usage = Usage()
    # GPU state of this observation: "active", "idle" or "unknown" (for gauges)
    kind: str = "unknown"

    @property
    def stop_at(self) -> float | None:
        return self.state.stop_at


def _fmt(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:02}:{seconds % 3600 // 60:02}:{seconds % 60:02}"


def classify(utilization: float | None, settings: PolicySettings) -> str:
    """'active', 'idle' or 'unknown' for one sample."""
    if utilization is None:
        return "unknown"
    return "active" if utilization >= settings.idle_threshold else "idle"


def interval_usage(
    state: ServerState, obs: Observation, settings: PolicySettings
) -> tuple[float, Usage]:
    """Seconds elapsed since the last observation and how to account them.

    A gap longer than ``max_sample_gap`` (culler down, metrics window not covering it) is
    unknown time and does not advance the idle timer.
    """
    since = state.last_observed if state.last_observed is not None else obs.started
    if since is None or obs.now <= since:
        return 0.0, Usage()
    dt = obs.now - since
    if dt > settings.max_sample_gap:
        return 0.0, Usage(unknown=dt)
    kind = classify(obs.utilization, settings)
    return dt, Usage(**{kind: dt})


def exemption(obs: Observation, settings: PolicySettings) -> str | None:
    """The reason a server is exempt from GPU culling, or None."""
    groups = sorted(obs.groups & settings.exempt_groups)
    if groups:
        return f"exempt: member of group {groups[0]!r}"
    if obs.profile and obs.profile in settings.exempt_profiles:
        return f"exempt: profile {obs.profile!r}"
    return None


def is_present(obs: Observation, settings: PolicySettings) -> bool:
    """Whether the user interacted within ``presence_timeout``: at the desk, or on a break
    (lunch, a meeting) from which they are likely to come back."""
    if obs.last_presence is None:
        return False
    return obs.now - obs.last_presence <= settings.presence_timeout


MAX_AGE_REASON = "GPU server age"


def stop_cause(reason: str) -> str:
    """The metric label of a stop, from its reason: 'max-gpu-age' or 'gpu-idle'."""
    return "max-gpu-age" if reason.startswith(MAX_AGE_REASON) else "gpu-idle"


def decide(state: ServerState, obs: Observation, settings: PolicySettings) -> Decision:
    """Decide what to do with one GPU server this cycle."""
    return replace(_decide(state, obs, settings), kind=classify(obs.utilization, settings))


def _decide(state: ServerState, obs: Observation, settings: PolicySettings) -> Decision:
    counted, usage = interval_usage(state, obs, settings)
    base = replace(state, last_observed=obs.now)

    exempt = exemption(obs, settings)
    if exempt:
        if state.warned:
            cleared = replace(base, warned_at=None, stop_at=None, idle_seconds=0.0)
            return Decision(Action.CLEAR_WARNING, exempt, cleared, usage)
        return Decision(Action.NONE, exempt, replace(base, idle_seconds=0.0), usage)

    if settings.max_gpu_age and obs.started is not None:
        age = obs.now - obs.started
        if age >= settings.max_gpu_age:
            reason = (
                f"{MAX_AGE_REASON} {_fmt(age)} reached max_gpu_age {_fmt(settings.max_gpu_age)}"
            )
            return Decision(Action.STOP, reason, base, usage)

    kind = classify(obs.utilization, settings)
    if kind == "unknown":
        reason = "GPU activity unknown (metrics missing or stale): never stopped for that"
        return Decision(Action.NONE, reason, base, usage)
    if kind == "active":
        active = replace(base, idle_seconds=0.0)
        reason = f"GPU active ({obs.utilization:.0f}% >= {settings.idle_threshold:g}%)"
        if state.warned:
            cleared = replace(active, warned_at=None, stop_at=None)
            return Decision(Action.CLEAR_WARNING, reason + ": warning withdrawn", cleared, usage)
        return Decision(Action.NONE, reason, active, usage)

    idle = replace(base, idle_seconds=state.idle_seconds + counted)
    if not state.warned:
        return _maybe_warn(idle, obs, settings, usage)
    return _warned_idle(idle, obs, settings, usage)


def _maybe_warn(
    state: ServerState, obs: Observation, settings: PolicySettings, usage: Usage
) -> Decision:
    if state.idle_seconds < settings.gpu_idle_timeout:
        reason = f"GPU idle for {_fmt(state.idle_seconds)} < {_fmt(settings.gpu_idle_timeout)}"
        return Decision(Action.NONE, reason, state, usage)
    warned = replace(state, warned_at=obs.now, stop_at=obs.now + settings.warning_lead)
    reason = (
        f"GPU idle for {_fmt(state.idle_seconds)} (below {settings.idle_threshold:g}%): "
        f"warned, stop in {_fmt(settings.warning_lead)} unless kept or active"
    )
    return Decision(Action.WARN, reason, warned, usage)


def pending_keep(state: ServerState, obs: Observation) -> bool:
    """Whether the user answered "keep" to the current warning and we have not handled it."""
    keep = obs.keep_requested_at
    if keep is None or state.warned_at is None:
        return False
    if state.last_keep_seen is not None and keep <= state.last_keep_seen:
        return False
    return keep >= state.warned_at


def _warned_idle(
    state: ServerState, obs: Observation, settings: PolicySettings, usage: Usage
) -> Decision:
    if pending_keep(state, obs):
        keep = obs.keep_requested_at
        assert keep is not None
        seen = replace(state, last_keep_seen=keep)
        if state.postponements_used >= settings.max_postponements:
            reason = f"keep ignored: all {settings.max_postponements} postponements used"
            return Decision(Action.NONE, reason, seen, usage)
        kept = replace(
            seen,
            stop_at=max(keep + settings.postpone_by, state.stop_at or 0.0),
            postponements_used=state.postponements_used + 1,
        )
        reason = (
            f"user asked to keep the GPU: stop postponed by {_fmt(settings.postpone_by)} "
            f"({kept.postponements_used}/{settings.max_postponements})"
        )
        return Decision(Action.POSTPONE, reason, kept, usage)

    assert state.stop_at is not None
    if obs.now < state.stop_at:
        reason = f"warned, GPU still idle: stop in {_fmt(state.stop_at - obs.now)}"
        return Decision(Action.NONE, reason, state, usage)
    if settings.presence_holds and is_present(obs, settings):
        assert obs.last_presence is not None
        reason = (
            f"warning due but the user was active {_fmt(obs.now - obs.last_presence)} ago "
            f"(within presence_timeout {_fmt(settings.presence_timeout)}): stop held"
        )
        return Decision(Action.NONE, reason, state, usage)
    away = (
        "never present"
        if obs.last_presence is None
        else (f"last present {_fmt(obs.now - obs.last_presence)} ago")
    )
    reason = (
        f"GPU idle for {_fmt(state.idle_seconds)}, warned {_fmt(obs.now - (state.warned_at or 0))}"
        f" ago, {away}"
    )
    return Decision(Action.STOP, reason, state, usage)


def warning_lost(decision: Decision, server_has_warning: bool | None) -> bool:
    """Whether a warning we hold must be sent again: the server answered without it
    (restarted extension, lost state). Only when nothing else is being sent this cycle."""
    return decision.action == Action.NONE and decision.state.warned and server_has_warning is False


def warning_payload(
    state: ServerState, settings: PolicySettings, reason: str
) -> CullWarning | None:
    """The warning the culler PUTs to the server extension, or None when none is pending."""
    if state.warned_at is None or state.stop_at is None:
        return None
    return CullWarning(
        issued_at=state.warned_at,
        stop_at=state.stop_at,
        reason=reason,
        postponements_left=max(settings.max_postponements - state.postponements_used, 0),
        postpone_by=settings.postpone_by,
    )
