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

    gpu_idle_timeout: float = 1800.0
    warning_lead: float = 900.0
    postpone_by: float = 3600.0
    max_postponements: int = 2
    idle_threshold: float = 5.0
    presence_timeout: float = 1800.0
    presence_holds: bool = True
    presence_hold_max: float = 7200.0
    max_gpu_age: float = 0.0
    max_sample_gap: float = 300.0
    unknown_restart_after: float = 900.0
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
    # when presence first held the due stop of the current warning (bounds that hold)
    held_since: float | None = None
    # seconds of unknown GPU activity in a row, up to this observation
    unknown_run: float = 0.0

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
    unknown_run = state.unknown_run + usage.unknown if usage.unknown else 0.0
    base = replace(state, last_observed=obs.now, unknown_run=unknown_run)

    exempt = exemption(obs, settings)
    if exempt:
        if state.warned:
            return Decision(Action.CLEAR_WARNING, exempt, restarted(base), usage)
        return Decision(Action.NONE, exempt, replace(base, idle_seconds=0.0), usage)

    if settings.max_gpu_age and obs.started is not None:
        age = obs.now - obs.started
        if age >= settings.max_gpu_age:
            reason = (
                f"{MAX_AGE_REASON} {_fmt(age)} reached max_gpu_age {_fmt(settings.max_gpu_age)}"
            )
            return Decision(Action.STOP, reason, base, usage)

    if settings.unknown_restart_after and unknown_run > settings.unknown_restart_after:
        reason = (
            f"GPU activity unknown for {_fmt(unknown_run)} (> unknown_restart_after "
            f"{_fmt(settings.unknown_restart_after)}): idle run restarted"
        )
        if state.warned:
            return Decision(
                Action.CLEAR_WARNING, reason + ", warning withdrawn", restarted(base), usage
            )
        return Decision(Action.NONE, reason, replace(base, idle_seconds=0.0), usage)

    kind = classify(obs.utilization, settings)
    if kind == "unknown":
        reason = "GPU activity unknown (metrics missing or stale): never stopped for that"
        return Decision(Action.NONE, reason, base, usage)
    if kind == "active":
        reason = f"GPU active ({obs.utilization:.0f}% >= {settings.idle_threshold:g}%)"
        if state.warned:
            cleared = restarted(base)
            return Decision(Action.CLEAR_WARNING, reason + ": warning withdrawn", cleared, usage)
        return Decision(Action.NONE, reason, replace(base, idle_seconds=0.0), usage)

    idle = replace(base, idle_seconds=base.idle_seconds + counted)
    if not state.warned:
        return _maybe_warn(idle, obs, settings, usage)
    return _warned_idle(idle, obs, settings, usage)


def restarted(state: ServerState) -> ServerState:
    """``state`` with its idle run restarted and any warning (and presence hold) withdrawn."""
    return replace(state, idle_seconds=0.0, warned_at=None, stop_at=None, held_since=None)


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


#: Seconds within which two readings of a keep answer are the same answer: the server's time is
#: moved onto the culler's clock through the skew of each reading, which varies by the request's
#: latency, so one answer read in two cycles comes back a few milliseconds apart.
SAME_KEEP_SECONDS = 1.0


def pending_keep(state: ServerState, obs: Observation) -> bool:
    """Whether the user answered "keep" to the current warning and we have not handled it."""
    keep = obs.keep_requested_at
    if keep is None or state.warned_at is None:
        return False
    if state.last_keep_seen is not None and keep <= state.last_keep_seen + SAME_KEEP_SECONDS:
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
    held = presence_hold(state, obs, settings)
    if held is not None:
        assert obs.last_presence is not None
        reason = (
            f"warning due but the user was active {_fmt(obs.now - obs.last_presence)} ago "
            f"(within presence_timeout {_fmt(settings.presence_timeout)}): stop held "
            f"{_fmt(obs.now - held)} of at most {_fmt(settings.presence_hold_max)}"
        )
        return Decision(Action.NONE, reason, replace(state, held_since=held), usage)
    return Decision(Action.STOP, stop_reason(state, obs, settings), state, usage)


# The labextension reports presence at most once a minute, so the click on "keep my GPU" can
# show up as presence up to a minute after the keep answer itself; presence before the answer
# is older than the answer and holds nothing either.
KEEP_ECHO = 60.0


def presence_hold(state: ServerState, obs: Observation, settings: PolicySettings) -> float | None:
    """Since when presence holds this due stop, or None when it does not (any longer).

    Presence holds only while it is recent (``presence_timeout``), only after the last "keep"
    answer (the answer itself is not presence: it bought its own ``postpone_by``), and for at
    most ``presence_hold_max`` seconds per warning; after that only "keep" answers postpone.
    """
    if not settings.presence_holds or not is_present(obs, settings):
        return None
    assert obs.last_presence is not None
    if state.last_keep_seen is not None and obs.last_presence <= state.last_keep_seen + KEEP_ECHO:
        return None
    since = obs.now if state.held_since is None else state.held_since
    if obs.now - since >= settings.presence_hold_max:
        return None
    return since


def stop_reason(state: ServerState, obs: Observation, settings: PolicySettings) -> str:
    if obs.last_presence is None:
        away = "never present"
    else:
        away = f"last present {_fmt(obs.now - obs.last_presence)} ago"
    if state.held_since is not None:
        away += f", presence held the stop for {_fmt(obs.now - state.held_since)}"
    elif state.last_keep_seen is not None and obs.last_presence is not None:
        away += (
            ", not since the last keep answer"
            if obs.last_presence <= state.last_keep_seen + KEEP_ECHO
            else ""
        )
    return (
        f"GPU idle for {_fmt(state.idle_seconds)}, warned {_fmt(obs.now - (state.warned_at or 0))}"
        f" ago, {away}"
    )


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
