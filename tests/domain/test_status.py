"""The status state machine, on a frozen clock: scenarios first, then properties."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstate.domain.enums import Status
from upstate.domain.status import (
    MonitorState,
    Policy,
    RegionResult,
    StatusChange,
    Transition,
    expire_regions,
    next_status,
    push_late,
    set_maintenance,
    set_paused,
)

T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
WORDS = {"up": Status.UP, "degraded": Status.DEGRADED, "down": Status.DOWN}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def feed(
    state: MonitorState,
    policy: Policy,
    *results: tuple[str, str, float],
    reason: str = "",
) -> tuple[MonitorState, list[StatusChange]]:
    """Apply (region, verdict, seconds) results in order, each decided at its own time."""
    changes = []
    for region, verdict, seconds in results:
        step = next_status(
            state, RegionResult(region, WORDS[verdict], at(seconds), reason), policy, at(seconds)
        )
        state = step.state
        if step.change is not None:
            changes.append(step.change)
    return state, changes


def one_region(verdicts: str, policy: Policy) -> list[Status]:
    """The visible status after each verdict of a single region checked every interval."""
    state, seen = MonitorState(), []
    for i, verdict in enumerate(verdicts.split()):
        state, _ = feed(state, policy, ("local", verdict, i * policy.interval_s))
        seen.append(state.status)
    return seen


# --- thresholds, one region -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "verdicts", "expected"),
    [
        (Policy(), "up up down up", "up up up up"),
        (Policy(), "up down down", "up up down"),
        (Policy(), "down", "down"),
        (Policy(), "degraded", "degraded"),
        (Policy(), "up down down up", "up up down up"),
        (Policy(failure_threshold=1), "up down up", "up down up"),
        (Policy(failure_threshold=3), "up down down up down down down", "up up up up up up down"),
        (
            Policy(success_threshold=2),
            "up down down up down up up",
            "up up down down down down up",
        ),
        (Policy(), "up degraded up degraded degraded up", "up up up up degraded up"),
        (Policy(), "up degraded down down", "up up degraded down"),
        (Policy(), "up down down degraded", "up up down degraded"),
        (Policy(success_threshold=2), "degraded up degraded up up", "degraded " * 4 + "up"),
    ],
)
def test_it_applies_thresholds_to_consecutive_rounds(
    policy: Policy, verdicts: str, expected: str
) -> None:
    assert one_region(verdicts, policy) == [WORDS[word] for word in expected.split()]


def test_it_decides_a_new_monitor_on_its_first_result() -> None:
    step = next_status(
        MonitorState(),
        RegionResult("local", Status.DOWN, at(0), "[STATUS] (503) == 200"),
        Policy(),
        at(0),
    )

    assert step.change == StatusChange(
        Status.UNKNOWN, Status.DOWN, at(0), "[STATUS] (503) == 200", False
    )
    assert step.state.since == at(0)


def test_it_says_how_many_failures_took_the_monitor_down() -> None:
    policy = Policy()
    state, _ = feed(MonitorState(), policy, ("local", "up", 0))

    state, changes = feed(
        state, policy, ("local", "down", 60), ("local", "down", 120), reason="[STATUS] (503) == 200"
    )

    assert [(c.previous, c.status, c.at) for c in changes] == [(Status.UP, Status.DOWN, at(120))]
    assert changes[0].reason == "2 consecutive failures: [STATUS] (503) == 200"
    assert state.reason == changes[0].reason


def test_it_writes_no_change_while_the_status_holds() -> None:
    policy = Policy()
    state, changes = feed(MonitorState(), policy, *[("local", "up", i * 60.0) for i in range(5)])

    assert [c.status for c in changes] == [Status.UP]
    assert state.since == at(0)
    assert (state.failures, state.successes) == (0, 5)


def test_it_resets_recovery_when_a_failure_interrupts_it() -> None:
    policy = Policy(success_threshold=3)
    state, _ = feed(
        MonitorState(),
        policy,
        ("local", "down", 0),
        ("local", "up", 60),
        ("local", "up", 120),
        ("local", "down", 180),
    )

    assert (state.status, state.successes, state.failures) == (Status.DOWN, 0, 1)
    state, changes = feed(state, policy, *[("local", "up", 240 + i * 60.0) for i in range(3)])
    assert [(c.status, c.at, c.reason) for c in changes] == [(Status.UP, at(360), "recovered")]


def test_it_refuses_a_result_that_is_not_a_verdict() -> None:
    with pytest.raises(ValueError, match="up, degraded or down"):
        next_status(MonitorState(), RegionResult("local", Status.PAUSED, at(0)), Policy(), at(0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"success_threshold": 0},
        {"interval_s": 0},
        {"quorum": 0},
        {"quorum": 1.5},
        {"flap_changes": 0},
    ],
)
def test_it_refuses_a_policy_that_cannot_work(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        Policy(**kwargs)  # type: ignore[arg-type]


# --- regions and quorum ---------------------------------------------------------------------

THREE = Policy(regions=("eu-west", "us-east", "ap-south"), quorum=0.5)


def test_it_stays_up_when_one_region_of_three_fails() -> None:
    state, changes = feed(
        MonitorState(),
        THREE,
        ("eu-west", "up", 0),
        ("us-east", "up", 1),
        ("ap-south", "up", 2),
        *[
            (region, "down" if region == "eu-west" else "up", 60 * i + k)
            for i in (1, 2, 3)
            for k, region in enumerate(("eu-west", "us-east", "ap-south"))
        ],
    )

    assert state.status is Status.UP
    assert [c.status for c in changes] == [Status.UP]
    assert {r.region: r.status for r in state.regions}["eu-west"] is Status.DOWN


def test_it_goes_down_when_two_regions_of_three_fail() -> None:
    state, _ = feed(
        MonitorState(), THREE, ("eu-west", "up", 0), ("us-east", "up", 1), ("ap-south", "up", 2)
    )

    state, changes = feed(
        state,
        THREE,
        ("eu-west", "down", 60),
        ("us-east", "down", 61),
        ("ap-south", "up", 62),
        ("eu-west", "down", 120),
        reason="timeout",
    )

    assert [(c.status, c.at) for c in changes] == [(Status.DOWN, at(120))]
    assert changes[0].reason == "2 of 3 regions down (eu-west, us-east): timeout"


def test_it_does_not_count_one_regions_failure_once_per_other_region() -> None:
    # eu-west's single failure keeps a 1-of-2 quorum failing until eu-west reports again;
    # us-east's good reports in between must not count as further failing rounds.
    policy = Policy(regions=("eu-west", "us-east"))
    state, changes = feed(
        MonitorState(),
        policy,
        ("eu-west", "up", 0),
        ("us-east", "up", 30),
        ("eu-west", "down", 60),
        ("us-east", "up", 90),
        ("us-east", "up", 100),
        ("eu-west", "up", 120),
    )

    assert state.status is Status.UP
    assert [c.status for c in changes] == [Status.UP]


def test_it_goes_down_when_half_the_regions_keep_failing() -> None:
    policy = Policy(regions=("eu-west", "us-east"))
    state, changes = feed(
        MonitorState(),
        policy,
        ("eu-west", "up", 0),
        ("us-east", "up", 30),
        ("eu-west", "down", 60),
        ("us-east", "up", 90),
        ("eu-west", "down", 120),
    )

    assert state.status is Status.DOWN
    assert changes[-1].reason == "1 of 2 regions down (eu-west)"


def test_it_shows_degraded_when_a_quorum_of_regions_is_degraded() -> None:
    state, changes = feed(
        MonitorState(),
        THREE,
        ("eu-west", "up", 0),
        ("us-east", "degraded", 1),
        ("ap-south", "up", 2),
        ("us-east", "degraded", 61),
        ("eu-west", "degraded", 62),
        ("ap-south", "up", 63),
        ("eu-west", "degraded", 122),
    )

    assert state.status is Status.DEGRADED
    assert changes[-1].reason == "2 of 3 regions degraded (eu-west, us-east)"


def test_it_leaves_stale_regions_out_of_the_quorum() -> None:
    # us-east said down long ago and went quiet: it no longer votes.
    state, _ = feed(
        MonitorState(),
        Policy(),
        ("us-east", "down", 0),
        ("eu-west", "up", 130),
        ("eu-west", "up", 190),
    )

    assert state.status is Status.UP
    assert [r.region for r in state.regions] == ["eu-west"]


def test_it_ignores_a_result_older_than_the_one_it_holds() -> None:
    state, _ = feed(MonitorState(), Policy(), ("local", "up", 60))

    step = next_status(state, RegionResult("local", Status.DOWN, at(0)), Policy(), at(61))

    assert step == Transition(state, None)


# --- expiry ---------------------------------------------------------------------------------


def test_it_shows_unknown_when_every_region_went_stale() -> None:
    policy = Policy()
    state, _ = feed(MonitorState(), policy, ("local", "down", 0))

    assert expire_regions(state, policy, at(119)).state is state
    step = expire_regions(state, policy, at(120))

    assert step.change == StatusChange(
        Status.DOWN, Status.UNKNOWN, at(120), "no results for 2m", False
    )
    assert step.state.regions == ()
    assert (step.state.failures, step.state.successes) == (0, 0)
    # and the next result decides at once again
    state, changes = feed(step.state, policy, ("local", "up", 180))
    assert [(c.previous, c.status) for c in changes] == [(Status.UNKNOWN, Status.UP)]


def test_it_ends_an_outage_when_the_only_failing_region_goes_stale() -> None:
    policy = Policy(regions=("eu-west", "us-east"))
    state, _ = feed(
        MonitorState(),
        policy,
        ("eu-west", "down", 10),
        ("us-east", "up", 60),
        ("us-east", "up", 120),
    )
    assert state.status is Status.DOWN

    step = expire_regions(state, policy, at(131))

    assert step.change is not None
    assert (step.change.status, step.change.reason) == (
        Status.UP,
        "eu-west went stale; 1 fresh region: up",
    )
    assert [r.region for r in step.state.regions] == ["us-east"]
    assert step.state.failures == 0


def test_it_never_starts_an_outage_when_evidence_expires() -> None:
    policy = Policy(regions=("eu-west", "us-east"), failure_threshold=3)
    state, _ = feed(
        MonitorState(),
        policy,
        ("us-east", "up", 10),
        ("eu-west", "up", 60),
        ("eu-west", "down", 120),
    )
    assert state.status is Status.UP
    assert len(state.regions) == 2

    step = expire_regions(state, policy, at(131))

    assert step.change is None
    assert step.state.status is Status.UP
    assert [r.region for r in step.state.regions] == ["eu-west"]


# --- push monitors --------------------------------------------------------------------------


def test_it_counts_a_late_push_as_a_failing_round() -> None:
    policy = Policy(interval_s=3600, failure_threshold=2)
    state, _ = feed(MonitorState(), policy, ("push", "up", 0))

    first = push_late(state, policy, at(5400), "no ping since 03:00 (grace 30m)")
    second = push_late(first.state, policy, at(9000), "no ping since 03:00 (grace 30m)")

    assert first.change is None
    assert first.state.regions == ()
    assert second.change == StatusChange(
        Status.UP, Status.DOWN, at(9000), "no ping since 03:00 (grace 30m)", False
    )
    state, changes = feed(second.state, policy, ("push", "up", 9100))
    assert [(c.status, c.reason) for c in changes] == [(Status.UP, "recovered")]


# --- paused ---------------------------------------------------------------------------------


def test_it_ignores_results_while_paused_and_starts_afresh_when_resumed() -> None:
    policy = Policy()
    state, _ = feed(MonitorState(), policy, ("local", "up", 0))

    paused = set_paused(state, True, at(10))
    assert paused.change == StatusChange(Status.UP, Status.PAUSED, at(10), "paused", False)
    assert set_paused(paused.state, True, at(11)).change is None
    ignored = next_status(paused.state, RegionResult("local", Status.DOWN, at(20)), policy, at(20))
    assert ignored.state is paused.state
    assert ignored.change is None
    assert expire_regions(paused.state, policy, at(9999)).state is paused.state
    assert push_late(paused.state, policy, at(9999), "late").state is paused.state

    resumed = set_paused(paused.state, False, at(30))
    assert resumed.change == StatusChange(Status.PAUSED, Status.UNKNOWN, at(30), "resumed", False)
    state, changes = feed(resumed.state, policy, ("local", "down", 40), reason="refused")
    assert [(c.previous, c.status, c.reason) for c in changes] == [
        (Status.UNKNOWN, Status.DOWN, "refused")
    ]


# --- maintenance ----------------------------------------------------------------------------


def test_it_masks_the_status_during_maintenance_and_restores_it_after() -> None:
    policy = Policy()
    state, _ = feed(MonitorState(), policy, ("local", "up", 0))

    started = set_maintenance(state, True, at(30))
    assert started.change == StatusChange(
        Status.UP, Status.MAINTENANCE, at(30), "maintenance started", False
    )
    state, changes = feed(
        started.state, policy, ("local", "down", 60), ("local", "down", 120), reason="refused"
    )
    assert changes == []
    assert (state.status, state.underlying) == (Status.MAINTENANCE, Status.DOWN)

    ended = set_maintenance(state, False, at(150))
    assert ended.change == StatusChange(
        Status.MAINTENANCE,
        Status.DOWN,
        at(150),
        "maintenance ended: 2 consecutive failures: refused",
        False,
    )
    assert ended.state.since == at(150)
    assert set_maintenance(ended.state, False, at(151)).change is None


def test_it_lets_pause_win_over_maintenance() -> None:
    state = set_maintenance(MonitorState(), True, at(0)).state
    paused = set_paused(state, True, at(1)).state

    ended = set_maintenance(paused, False, at(2))
    assert ended.change is None
    assert (ended.state.status, ended.state.in_maintenance) == (Status.PAUSED, False)
    again = set_maintenance(ended.state, True, at(3))
    assert again.change is None
    assert set_paused(again.state, False, at(4)).state.status is Status.MAINTENANCE


# --- flapping -------------------------------------------------------------------------------


def test_it_flags_flapping_and_clears_it_once_the_window_calms() -> None:
    policy = Policy(failure_threshold=1, flap_changes=5, flap_window_s=1800)
    state, changes = feed(
        MonitorState(),
        policy,
        *[("local", "up" if i % 2 == 0 else "down", i * 60.0) for i in range(8)],
    )

    assert [c.flapping for c in changes] == [False] * 5 + [True] * 3
    assert state.flapping
    assert len(state.changes) == policy.flap_changes + 1

    # Steady from here: the flag holds while more than 2 changes sit in the window.
    third_last = state.changes[-3]
    last_step = 8
    cleared_at = None
    for i in range(last_step, last_step + 40):
        state, changes = feed(state, policy, ("local", "down", i * 60.0))
        assert changes == []
        if not state.flapping:
            cleared_at = at(i * 60.0)
            break
    assert cleared_at == third_last + timedelta(seconds=1800)


def test_it_clears_flapping_on_a_monitor_that_stopped_reporting() -> None:
    policy = Policy(flap_changes=2, flap_window_s=600)
    state = MonitorState(
        status=Status.DOWN,
        underlying=Status.DOWN,
        changes=(at(0), at(60), at(120)),
        flapping=True,
    )

    assert expire_regions(state, policy, at(659)).state is state  # 2 changes still in window
    step = expire_regions(state, policy, at(660))

    assert step.change is None
    assert (step.state.flapping, step.state.changes) == (False, (at(120),))


def test_it_does_not_count_operator_actions_as_flapping() -> None:
    Policy(flap_changes=1)
    state = MonitorState()
    for i in range(6):
        state = set_maintenance(state, i % 2 == 0, at(i)).state

    assert state.changes == ()
    assert not state.flapping


# --- serialisation --------------------------------------------------------------------------


def test_it_round_trips_through_json() -> None:
    policy = Policy(failure_threshold=1, flap_changes=2, regions=("eu-west", "us-east"))
    state, _ = feed(
        MonitorState(),
        policy,
        ("eu-west", "up", 0),
        ("us-east", "degraded", 10),
        ("eu-west", "down", 20),
        ("eu-west", "up", 30),
        ("eu-west", "down", 40),
        reason="[STATUS] (503) == 200",
    )
    state = set_maintenance(state, True, at(50)).state
    assert state.flapping
    assert state.changes
    assert len(state.regions) == 2

    data = json.loads(json.dumps(state.to_dict()))

    assert data["regions"][0]["at"] == "2024-05-01T03:00:40+00:00"
    assert MonitorState.from_dict(data) == state


def test_it_reads_rows_written_before_a_field_existed() -> None:
    assert MonitorState.from_dict({}) == MonitorState()
    assert MonitorState.from_dict({"status": "up", "underlying": "up"}).status is Status.UP


def test_it_refuses_a_stored_region_without_a_verdict() -> None:
    data = MonitorState().to_dict()
    data["regions"] = [{"region": "x", "status": "paused", "at": T0.isoformat()}]

    with pytest.raises(ValueError, match="up, degraded or down"):
        MonitorState.from_dict(data)


# --- properties -----------------------------------------------------------------------------

policies = st.builds(
    Policy,
    failure_threshold=st.integers(1, 4),
    success_threshold=st.integers(1, 3),
    interval_s=st.sampled_from([30.0, 60.0]),
    quorum=st.sampled_from([1 / 3, 0.5, 2 / 3, 1.0]),
    flap_changes=st.integers(1, 6),
    flap_window_s=st.sampled_from([300.0, 1800.0]),
)
verdicts = st.sampled_from([Status.UP, Status.DEGRADED, Status.DOWN])


@given(policies, st.lists(verdicts, min_size=1, max_size=40))
@settings(max_examples=200)
def test_it_keeps_the_threshold_promises_for_one_region(
    policy: Policy, sequence: list[Status]
) -> None:
    ft, sth = policy.failure_threshold, policy.success_threshold
    state = MonitorState()
    for i, verdict in enumerate(sequence):
        now = at(i * policy.interval_s)
        step = next_status(state, RegionResult("local", verdict, now), policy, now)
        before, after = state.status, step.state.status
        seen = sequence[: i + 1]
        last_ft, last_st = seen[-ft:], seen[-sth:]

        # safety: no change without the evidence the thresholds ask for
        if before in (Status.UP, Status.DEGRADED) and after is Status.DOWN:
            assert len(last_ft) == ft
            assert all(v is Status.DOWN for v in last_ft)
        if before is Status.DOWN and after is not Status.DOWN:
            assert len(last_st) == sth
            assert all(v is not Status.DOWN for v in last_st)
        if before is Status.UP and after is Status.DEGRADED:
            assert len(last_ft) == ft
            assert all(v is not Status.UP for v in last_ft)
        if before is Status.DEGRADED and after is Status.UP:
            assert len(last_st) == sth
            assert all(v is Status.UP for v in last_st)
        # liveness: enough evidence always gets there
        if len(last_ft) == ft and all(v is Status.DOWN for v in last_ft):
            assert after is Status.DOWN
        if all(v is not Status.DOWN for v in last_st):
            assert after is not Status.DOWN
        if all(v is Status.UP for v in last_st):
            assert after is Status.UP
        assert after is not Status.UNKNOWN
        state = step.state


@dataclass
class Mirror:
    """What the test itself knows: the latest result per region, and the operator's switches."""

    latest: dict[str, RegionResult] = field(default_factory=dict)
    paused: bool = False
    in_maintenance: bool = False

    def prune(self, policy: Policy, now: datetime, keep: str = "") -> None:
        horizon = timedelta(seconds=2 * policy.interval_s)
        self.latest = {k: r for k, r in self.latest.items() if k == keep or now - r.at < horizon}

    def failing(self, policy: Policy) -> bool:
        down = sum(r.status is Status.DOWN for r in self.latest.values())
        return down >= policy.quorum * len(self.latest) - 1e-9


Result = tuple[str, str, Status, float, float]
Step = tuple[str, float]
Switch = tuple[str, bool]

operations = st.one_of(
    st.tuples(
        st.just("result"),
        st.sampled_from(["eu-west", "us-east", "ap-south"]),
        verdicts,
        st.floats(0, 150),  # seconds the clock moves
        st.floats(0, 40),  # how late the result is delivered
    ),
    st.tuples(st.sampled_from(["expire", "late"]), st.floats(0, 200)),
    st.tuples(st.sampled_from(["pause", "maintenance"]), st.booleans()),
)


def apply(
    state: MonitorState, mirror: Mirror, op: Result | Step | Switch, policy: Policy, now: datetime
) -> tuple[Transition, datetime]:
    """One operation on both the machine and the mirror, checking what the mirror can tell."""
    previous = state
    if op[0] == "result":
        _, region, verdict, advance, lag = op  # type: ignore[misc]
        now += timedelta(seconds=advance)
        result = RegionResult(region, verdict, now - timedelta(seconds=lag))
        step = next_status(state, result, policy, now)
        held = mirror.latest.get(region)
        if mirror.paused or (held is not None and result.at < held.at):
            assert step.state is previous
            return step, now
        mirror.prune(policy, now, keep=region)
        mirror.latest[region] = result
        assert {r.region for r in step.state.regions} == set(mirror.latest)
        failing = mirror.failing(policy)
        if previous.underlying in (Status.UP, Status.DEGRADED) and (
            step.state.underlying is Status.DOWN
        ):
            assert failing
            assert verdict is Status.DOWN
        if previous.underlying is Status.DOWN and step.state.underlying is not Status.DOWN:
            assert not failing
            assert verdict is not Status.DOWN
    elif op[0] == "expire":
        now += timedelta(seconds=op[1])
        step = expire_regions(state, policy, now)
        if not mirror.paused:
            mirror.prune(policy, now)
            assert {r.region for r in step.state.regions} == set(mirror.latest)
            if step.state.underlying is Status.DOWN:
                assert previous.underlying is Status.DOWN
    elif op[0] == "late":
        now += timedelta(seconds=op[1])
        step = push_late(state, policy, now, "late")
        if not mirror.paused:
            mirror.latest = {}
    elif op[0] == "pause":
        step = set_paused(state, bool(op[1]), now)
        mirror.latest = {} if op[1] else mirror.latest
        mirror.paused = bool(op[1])
    else:
        step = set_maintenance(state, bool(op[1]), now)
        mirror.in_maintenance = bool(op[1])
    return step, now


@given(policies, st.lists(operations, max_size=60))
@settings(max_examples=200)
def test_it_keeps_its_invariants_under_any_sequence(
    policy: Policy, script: list[Result | Step | Switch]
) -> None:
    state, mirror, now = MonitorState(), Mirror(), T0
    for op in script:
        previous = state
        step, now = apply(state, mirror, op, policy, now)
        state = step.state

        # the change list matches the state changes
        if step.change is None:
            assert state.status is previous.status
        else:
            assert (step.change.previous, step.change.status) == (previous.status, state.status)
            assert step.change.previous is not step.change.status
            assert (step.change.at, step.change.flapping) == (now, state.flapping)
            assert state.since == now
        # the visible status is derived from the switches and the underlying status
        assert (state.paused, state.in_maintenance) == (mirror.paused, mirror.in_maintenance)
        if state.paused:
            assert state.status is Status.PAUSED
        elif state.in_maintenance:
            assert state.status is Status.MAINTENANCE
        else:
            assert state.status is state.underlying
        assert state.underlying in (Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN)
        # bounded, ordered, one latest result per region
        assert len(state.changes) <= policy.flap_changes + 1
        assert list(state.changes) == sorted(state.changes)
        assert len({r.region for r in state.regions}) == len(state.regions)
        assert min(state.failures, state.successes, state.unhealthy, state.healthy) >= 0
        if state.flapping:
            assert len(state.changes) > policy.flap_changes // 2
        # serialisation round-trips
        assert MonitorState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
