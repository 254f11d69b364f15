"""Policy v2 through decide(): bounded presence holds, keep beyond presence, metrics gaps."""

from __future__ import annotations

from dataclasses import replace

from jupyterhub_imagine.culler.decide import (
    KEEP_ECHO,
    Action,
    Decision,
    Observation,
    PolicySettings,
    ServerState,
    decide,
)

from .test_decide import STEP, S, actions, run

# the v1 defaults' proportions: presence counts 90 min back, a keep buys 60 min
V2 = replace(S, presence_timeout=5400, presence_hold_max=1800, postpone_by=3600)
DUE = 40  # S: warned after 30 idle minutes, stop due 10 minutes later


def first_stop(ds: list[Decision], after: int = 0) -> int:
    """The step of the first stop after ``after`` (the helper keeps deciding after a stop)."""
    return next(i for i, a in actions(ds) if a == Action.STOP and i > after)


def every(first: int, last: int, step: int = 1) -> dict[int, float]:
    """Presence at each ``step``-th minute from ``first`` to ``last``."""
    return {i: i * STEP for i in range(first, last + 1, step)}


def test_keep_postpones_beyond_what_presence_alone_holds() -> None:
    # at the desk until minute 35, answers "keep" at 35 (the click is also presence), then away
    kept = run([0.0] * 200, settings=V2, presence=every(1, 35), keep={35: 35 * STEP})
    # without the answer, presence holds the due stop for presence_hold_max at most
    held = run([0.0] * 200, settings=V2, presence=every(1, 35))
    assert actions(held)[:2] == [(30, Action.WARN), (DUE + 30, Action.STOP)]
    assert actions(kept)[:3] == [(30, Action.WARN), (35, Action.POSTPONE), (35 + 60, Action.STOP)]
    # the keep click is not presence holding the postponed stop (v1 held it 90 min)
    assert "not since the last keep answer" in kept[35 + 60 - 1].reason


def test_keep_click_reported_just_before_the_answer_is_not_presence() -> None:
    # the labextension reports presence at most once a minute: the click may precede the answer
    click = 35 * STEP - KEEP_ECHO / 2
    ds = run([0.0] * 200, settings=V2, presence={35: click}, keep={35: 35 * STEP})
    assert first_stop(ds) == 95


def test_presence_after_a_keep_answer_holds_again_within_the_bound() -> None:
    ds = run([0.0] * 200, settings=V2, presence=every(1, 120, 10), keep={35: 35 * STEP})
    acts = actions(ds)
    # postponed to 95; presence since the answer (clicks every 10 min) holds it for 30 min
    assert acts[:2] == [(30, Action.WARN), (35, Action.POSTPONE)]
    assert acts[2] == (95 + 30, Action.STOP)
    assert "held" in ds[95 + 10].reason


def test_presence_alone_holds_an_idle_gpu_only_for_presence_hold_max() -> None:
    # a click every 10 minutes for 12 hours, no keep answer
    ds = run([0.0] * 720, settings=V2, presence=every(1, 720, 10))
    assert actions(ds)[:2] == [(30, Action.WARN), (DUE + 30, Action.STOP)]
    assert ds[DUE + 30 - 1].state.postponements_used == 0
    assert "presence held the stop for 00:30:00" in ds[DUE + 30 - 1].reason


def test_after_the_presence_bound_only_keep_answers_postpone_and_each_counts() -> None:
    presence = every(1, 400, 5)
    keep = {60: 60 * STEP, 115: 115 * STEP, 170: 170 * STEP}
    ds = run([0.0] * 400, settings=V2, presence=presence, keep=keep)
    acts = actions(ds)
    assert acts[:3] == [(30, Action.WARN), (60, Action.POSTPONE), (115, Action.POSTPONE)]
    # the third answer is refused (2 postponements); presence's bound was used up before
    assert "all 2 postponements used" in ds[170 - 1].reason
    assert acts[3] == (115 + 60, Action.STOP)
    assert ds[115 - 1].state.postponements_used == 2


def test_presence_hold_max_zero_means_presence_never_holds() -> None:
    ds = run([0.0] * 100, settings=replace(V2, presence_hold_max=0), presence=every(1, 100))
    assert actions(ds)[:2] == [(30, Action.WARN), (DUE, Action.STOP)]


def test_a_long_metrics_gap_restarts_the_idle_run() -> None:
    # 29 idle minutes, 4 hours without metrics (one late observation), then idle again
    state = run([0.0] * 29)[-1].state
    assert state.idle_seconds == 29 * STEP
    late = decide(state, Observation(now=29 * STEP + 4 * 3600, utilization=0.0), S)
    assert late.action == Action.NONE and late.state.idle_seconds == 0
    assert "idle run restarted" in late.reason
    assert late.usage.unknown == 4 * 3600
    nxt = decide(late.state, Observation(now=late.state.last_observed + STEP, utilization=0.0), S)
    assert nxt.action == Action.NONE and nxt.state.idle_seconds == STEP


def test_a_metrics_gap_withdraws_a_pending_warning_and_never_stops_for_the_old_stretch() -> None:
    # warned, then a job runs unseen for 3 hours (no samples), then the GPU reads idle
    warned = run([0.0] * 31)
    assert warned[29].action == Action.WARN
    state = warned[-1].state
    after = decide(state, Observation(now=31 * STEP + 3 * 3600, utilization=0.0), S)
    assert after.action == Action.CLEAR_WARNING
    assert after.state.warned_at is None and after.state.stop_at is None
    assert after.state.idle_seconds == 0 and "warning withdrawn" in after.reason
    assert "00:31:00" not in after.reason


def test_unknown_samples_withdraw_the_warning_once_the_run_passes_the_setting() -> None:
    s = replace(S, unknown_restart_after=600)
    ds = run([0.0] * 31 + [None] * 20 + [0.0] * 31, settings=s)
    # 11 unknown minutes (> 600 s) withdraw it; idle afterwards starts from zero
    assert actions(ds) == [(30, Action.WARN), (42, Action.CLEAR_WARNING), (51 + 30, Action.WARN)]
    assert Action.STOP not in [d.action for d in ds]


def test_unknown_restart_after_zero_keeps_the_v1_behaviour() -> None:
    s = replace(S, unknown_restart_after=0)
    ds = run([0.0] * 20 + [None] * 50 + [0.0] * 10, settings=s)
    assert actions(ds) == [(80, Action.WARN)]


def test_defaults_are_what_the_bench_chose() -> None:
    d = PolicySettings()
    assert (d.gpu_idle_timeout, d.warning_lead, d.presence_timeout, d.presence_hold_max) == (
        1800,
        900,
        1800,
        7200,
    )
    assert d.unknown_restart_after == 900 and d.postpone_by == 3600


def test_withdrawn_warning_forgets_the_presence_hold() -> None:
    ds = run([0.0] * 45 + [90.0] + [0.0] * 80, settings=V2, presence=every(1, 200, 10))
    assert ds[44].state.held_since is not None
    assert ds[45].action == Action.CLEAR_WARNING and ds[45].state.held_since is None
    # the next warning's hold gets its full bound again
    assert first_stop(ds, after=46) == 46 + DUE + 30


def test_states_from_v1_still_load() -> None:
    old = ServerState(idle_seconds=100.0, last_observed=0.0)
    assert decide(old, Observation(now=60.0, utilization=0.0), S).state.idle_seconds == 160.0
