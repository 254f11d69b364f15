"""The pure idle-GPU policy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from jupyterhub_imagine.culler.decide import (
    Action,
    Decision,
    Observation,
    PolicySettings,
    ServerState,
    decide,
    warning_payload,
)

S = PolicySettings(
    gpu_idle_timeout=1800,
    warning_lead=600,
    postpone_by=3600,
    max_postponements=2,
    idle_threshold=5,
    presence_timeout=900,
    max_sample_gap=300,
)
STEP = 60.0


def run(
    samples: list[float | None],
    *,
    settings: PolicySettings = S,
    presence: dict[int, float] | None = None,
    keep: dict[int, float] | None = None,
    start: float = 0.0,
    state: ServerState | None = None,
    **obs_kw: object,
) -> list[Decision]:
    """Feed one sample per minute; presence/keep map a step to a time of interaction."""
    state = state or ServerState(last_observed=start)
    last_presence = keep_at = None
    out = []
    for i, util in enumerate(samples, start=1):
        now = start + i * STEP
        if presence and i in presence:
            last_presence = presence[i]
        if keep and i in keep:
            keep_at = keep[i]
        obs = Observation(
            now=now,
            utilization=util,
            last_presence=last_presence,
            keep_requested_at=keep_at,
            started=start,
            **obs_kw,  # type: ignore[arg-type]
        )
        d = decide(state, obs, settings)
        state = d.state
        out.append(d)
    return out


def actions(ds: list[Decision]) -> list[tuple[int, Action]]:
    return [(i, d.action) for i, d in enumerate(ds, start=1) if d.action != Action.NONE]


def test_idle_gpu_nobody_present_is_warned_then_stopped() -> None:
    ds = run([0.0] * 45)
    assert actions(ds)[:2] == [(30, Action.WARN), (40, Action.STOP)]
    assert "nobody" in ds[39].reason or "never present" in ds[39].reason
    assert ds[29].state.stop_at == 30 * STEP + 600


def test_busy_gpu_is_never_stopped_even_without_any_other_activity() -> None:
    assert actions(run([80.0] * 600)) == []


def test_short_bursts_reset_the_idle_timer() -> None:
    pattern = ([0.0] * 25 + [50.0]) * 20
    assert actions(run(pattern)) == []


def test_activity_after_warning_withdraws_it() -> None:
    ds = run([0.0] * 32 + [60.0] + [0.0] * 20)
    assert actions(ds) == [(30, Action.WARN), (33, Action.CLEAR_WARNING)]
    assert ds[32].state.warned_at is None and ds[32].state.idle_seconds == 0
    assert "withdrawn" in ds[32].reason


def test_threshold_is_inclusive_for_activity() -> None:
    assert actions(run([5.0] * 100)) == []
    assert actions(run([4.9] * 31))[0] == (30, Action.WARN)


def test_missing_metrics_never_stop_and_count_as_unknown() -> None:
    ds = run([None] * 300)
    assert actions(ds) == []
    assert all(d.usage.unknown == STEP for d in ds)
    # warned, then metrics disappear: no stop however long; the warning is withdrawn once the
    # unknown stretch passes unknown_restart_after (900 s: 16 one-minute samples)
    ds = run([0.0] * 31 + [None] * 200)
    assert actions(ds) == [(30, Action.WARN), (47, Action.CLEAR_WARNING)]
    assert all("unknown" in d.reason for d in ds[31:])


def test_short_unknown_time_neither_advances_nor_resets_idle_timer() -> None:
    ds = run([0.0] * 20 + [None] * 10 + [0.0] * 10)
    assert actions(ds) == [(40, Action.WARN)]


def test_gap_longer_than_max_sample_gap_is_unknown() -> None:
    state = ServerState(idle_seconds=1700, last_observed=0.0)
    d = decide(state, Observation(now=600.0, utilization=0.0), S)
    assert d.usage.unknown == 600.0 and d.usage.idle == 0
    assert d.action == Action.NONE and d.state.idle_seconds == 1700


def test_accounting_splits_active_idle_unknown() -> None:
    ds = run([50.0] * 10 + [0.0] * 5 + [None] * 3)
    total = {k: sum(getattr(d.usage, k) for d in ds) for k in ("active", "idle", "unknown")}
    assert total == {"active": 600.0, "idle": 300.0, "unknown": 180.0}


def test_first_observation_counts_since_start_as_unknown_if_long() -> None:
    d = decide(ServerState(), Observation(now=1500.0, utilization=0.0, started=1000.0), S)
    assert d.usage.unknown == 500.0


def test_abandoned_tab_polling_does_not_save_the_server() -> None:
    # polling is not presence: the policy never looks at last_activity
    ds = run([0.0] * 45)
    assert (40, Action.STOP) in actions(ds)


def test_present_user_defers_the_stop_until_they_leave() -> None:
    # present every minute until step 50, then gone
    presence = {i: i * STEP for i in range(1, 51)}
    ds = run([0.0] * 80, presence=presence)
    acts = actions(ds)
    assert acts[0] == (30, Action.WARN)
    # deadline at 40 passes while present; stop once presence is older than 15 min
    assert acts[1] == (66, Action.STOP)
    assert "was active" in ds[45].reason and "stop held" in ds[45].reason


def test_defaults_keep_covers_a_lunch_and_a_forgotten_server_is_released() -> None:
    defaults = PolicySettings()
    # a GPU burst, 40 min reading at the desk (idle GPU), then lunch
    at_desk = {i: i * STEP for i in range(1, 42)}
    back = at_desk | {i: i * STEP for i in range(41 + 45, 200)}  # back after 45 min
    # warned at the desk after 30 idle minutes; "keep" before leaving holds it for an hour
    kept = actions(
        run([90.0] + [0.0] * 199, settings=defaults, presence=back, keep={32: 32 * STEP})
    )
    assert kept[:2] == [(31, Action.WARN), (32, Action.POSTPONE)]
    assert Action.STOP not in [a for _, a in kept]
    # without it, presence holds the due stop only until the last click is 30 min old
    lost = actions(run([90.0] + [0.0] * 199, settings=defaults, presence=back))
    assert lost[:2] == [(31, Action.WARN), (41 + 31, Action.STOP)]
    # forgotten after the reading: released 45 min after the last GPU use at the earliest
    forgotten = actions(run([90.0] + [0.0] * 299, settings=defaults, presence=at_desk))
    assert forgotten[:2] == [(31, Action.WARN), (41 + 31, Action.STOP)]


def test_presence_holds_can_be_switched_off() -> None:
    presence = {i: i * STEP for i in range(1, 80)}
    ds = run([0.0] * 45, presence=presence, settings=replace(S, presence_holds=False))
    assert (40, Action.STOP) in actions(ds)


def test_keep_postpones_by_postpone_by_and_is_bounded() -> None:
    # keep at step 35 (after the warning at 30), again at 90, and again at 140
    keep = {35: 35 * STEP, 90: 90 * STEP, 140: 140 * STEP}
    ds = run([0.0] * 240, keep=keep)
    acts = actions(ds)
    assert acts[:3] == [(30, Action.WARN), (35, Action.POSTPONE), (90, Action.POSTPONE)]
    assert ds[34].state.stop_at == 35 * STEP + 3600
    assert ds[34].state.postponements_used == 1
    # the third keep is refused: stop at the second postponement's end
    assert "all 2 postponements used" in ds[139].reason
    assert acts[3] == (150, Action.STOP)


def test_keep_before_the_current_warning_is_ignored() -> None:
    ds = run([0.0] * 45, keep={5: 5 * STEP})
    assert actions(ds)[:2] == [(30, Action.WARN), (40, Action.STOP)]


def test_same_keep_counts_once() -> None:
    ds = run([0.0] * 60, keep={32: 32 * STEP})
    assert [a for a in actions(ds) if a[1] == Action.POSTPONE] == [(32, Action.POSTPONE)]
    assert ds[-1].state.postponements_used == 1


def test_postponements_are_per_server_not_per_idle_episode() -> None:
    pattern = [0.0] * 31 + [0.0] * 3 + [90.0] + [0.0] * 40
    ds = run(pattern, keep={33: 33 * STEP, 70: 70 * STEP})
    acts = actions(ds)
    assert (33, Action.POSTPONE) in acts and (35, Action.CLEAR_WARNING) in acts
    assert (70, Action.POSTPONE) in acts
    assert ds[-1].state.postponements_used == 2


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"groups": frozenset({"gpu-vip", "x"})}, "group 'gpu-vip'"),
        ({"profile": "gpu-long"}, "profile 'gpu-long'"),
    ],
)
def test_exemptions(kw: dict[str, object], why: str) -> None:
    s = replace(S, exempt_groups=frozenset({"gpu-vip"}), exempt_profiles=frozenset({"gpu-long"}))
    ds = run([0.0] * 200, settings=s, **kw)
    assert actions(ds) == []
    assert why in ds[0].reason


def test_exemption_withdraws_a_pending_warning() -> None:
    s = replace(S, exempt_profiles=frozenset({"gpu-long"}))
    warned = ServerState(idle_seconds=2000, last_observed=0, warned_at=0, stop_at=600)
    d = decide(warned, Observation(now=60, utilization=0.0, profile="gpu-long"), s)
    assert d.action == Action.CLEAR_WARNING and d.state.warned_at is None


def test_max_gpu_age_stops_even_active_servers() -> None:
    s = replace(S, max_gpu_age=3600)
    ds = run([90.0] * 70, settings=s)
    assert actions(ds) == [(60, Action.STOP), *[(i, Action.STOP) for i in range(61, 71)]]
    assert "max_gpu_age" in ds[59].reason


def test_warning_payload() -> None:
    ds = run([0.0] * 30)
    payload = warning_payload(ds[-1].state, S, ds[-1].reason)
    assert payload is not None
    assert payload.to_json() == {
        "issued_at": 1800.0,
        "stop_at": 2400.0,
        "reason": ds[-1].reason,
        "postponements_left": 2,
        "postpone_by": 3600,
        "keep_requested_at": None,
    }
    assert warning_payload(ServerState(), S, "") is None


def test_reasons_are_never_empty() -> None:
    presence = {i: i * STEP for i in range(1, 50)}
    for d in run([0.0] * 50 + [None] * 5 + [70.0] * 5, presence=presence, keep={35: 2100.0}):
        assert d.reason
