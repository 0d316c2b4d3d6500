"""Push monitors on a frozen clock: pings, deadlines, cron in a time zone, then properties."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from upstate.domain.enums import Status
from upstate.domain.push import (
    MAX_RUN,
    CronSchedule,
    PingKind,
    PushSchedule,
    PushState,
    deadline,
    is_late,
    next_expected,
    record_ping,
)

DUBLIN = "Europe/Dublin"
T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)  # monitoring began
HOURLY = PushSchedule(period_s=3600, grace_s=300)
NIGHTLY = PushSchedule(cron="0 3 * * *", grace_s=1800)  # UTC


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def pinged(*pings: tuple[str, str], created: datetime = T0) -> PushState:
    """A state after (kind, UTC time) pings, in order."""
    state = PushState(created_at=created)
    for kind, at in pings:
        state = record_ping(state, kind, utc(at)).state
    return state


# --- what a ping says ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "exit_status", "status", "reason"),
    [
        (PingKind.SUCCESS, None, Status.UP, "ping received"),
        (PingKind.FAIL, None, Status.DOWN, "the job reported failure"),
        (PingKind.EXIT, 0, Status.UP, "ping received"),
        (PingKind.EXIT, 3, Status.DOWN, "exit status 3"),
        (PingKind.EXIT, 255, Status.DOWN, "exit status 255"),
        (PingKind.START, None, None, "started"),
    ],
)
def test_it_turns_each_kind_of_ping_into_a_verdict(
    kind: PingKind, exit_status: int | None, status: Status | None, reason: str
) -> None:
    at = utc("2024-05-01 03:00")
    state, verdict, why = record_ping(PushState(created_at=T0), kind, at, exit_status)

    assert (verdict, why) == (status, reason)
    if kind is PingKind.START:
        assert (state.started_at, state.last_ping_at) == (at, None)
    else:
        assert (state.last_ping_at, state.last_ping_kind) == (at, kind)
        assert state.last_exit_status == exit_status


@pytest.mark.parametrize(
    ("kind", "exit_status", "status", "reason"),
    [
        ("success", None, Status.UP, "ran 2m13s"),
        ("fail", None, Status.DOWN, "the job reported failure after 2m13s"),
        ("exit", 0, Status.UP, "ran 2m13s"),
        ("exit", 3, Status.DOWN, "exit status 3 after 2m13s"),
    ],
)
def test_it_measures_the_run_from_start_to_completion(
    kind: str, exit_status: int | None, status: Status, reason: str
) -> None:
    started = pinged(("start", "2024-05-01 03:00"))

    state, verdict, why = record_ping(started, kind, utc("2024-05-01 03:02:13"), exit_status)

    assert (verdict, why) == (status, reason)
    assert state.last_duration_ms == 133_000
    assert state.started_at is None


def test_it_forgets_the_duration_of_a_completion_without_a_start() -> None:
    state = pinged(("start", "2024-05-01 03:00"), ("success", "2024-05-01 03:01"))

    again = record_ping(state, "success", utc("2024-05-01 04:00")).state

    assert state.last_duration_ms == 60_000
    assert again.last_duration_ms is None


def test_it_does_not_pair_a_completion_with_a_start_older_than_the_longest_run() -> None:
    start = utc("2024-05-01 03:00")
    state = record_ping(PushState(created_at=T0), "start", start).state

    within = record_ping(state, "success", start + MAX_RUN)
    beyond = record_ping(state, "success", start + MAX_RUN + timedelta(seconds=1))

    assert within.reason == "ran 3d"
    assert within.state.last_duration_ms == 72 * 3600_000
    assert beyond.reason == "ping received"
    assert beyond.state.last_duration_ms is None
    assert beyond.state.started_at is None


def test_it_lets_a_new_start_replace_a_pending_one() -> None:
    state = pinged(("start", "2024-05-01 03:00"), ("start", "2024-05-01 03:10"))

    done = record_ping(state, "success", utc("2024-05-01 03:15"))

    assert done.reason == "ran 5m"


def test_it_ignores_a_ping_older_than_the_last_completion() -> None:
    state = pinged(("success", "2024-05-01 03:00"))

    for kind in ("success", "fail", "start"):
        late = record_ping(state, kind, utc("2024-05-01 02:59"))
        assert late.state is state
        assert late.status is None


@pytest.mark.parametrize(
    ("kind", "exit_status"),
    [("exit", None), ("success", 0), ("fail", 1), ("exit", 256), ("exit", -1), ("bogus", None)],
)
def test_it_refuses_a_malformed_ping(kind: str, exit_status: int | None) -> None:
    with pytest.raises(ValueError, match=r"exit|bogus"):
        record_ping(PushState(created_at=T0), kind, utc("2024-05-01 03:00"), exit_status)


def test_it_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        PushState(created_at=datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="aware"):
        record_ping(PushState(created_at=T0), "success", datetime(2024, 5, 1, 3))


def test_it_accepts_any_string_enum_with_the_same_values() -> None:
    class StoredKind(StrEnum):  # as upstate.store.pings.PingKind
        EXIT = "exit"

    outcome = record_ping(PushState(created_at=T0), StoredKind.EXIT, utc("2024-05-01 03:00"), 2)

    assert outcome.state.last_ping_kind is PingKind.EXIT
    assert outcome.reason == "exit status 2"


# --- deadlines -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "state", "expected_deadline"),
    [
        (HOURLY, pinged(("success", "2024-05-01 10:00")), "2024-05-01 11:05"),
        (HOURLY, pinged(("fail", "2024-05-01 10:00")), "2024-05-01 11:05"),
        (HOURLY, pinged(), "2024-05-01 01:05"),  # never pinged: from created_at
        (PushSchedule(period_s=60), pinged(("success", "2024-05-01 10:00")), "2024-05-01 10:01"),
        (NIGHTLY, pinged(("success", "2024-05-01 03:05")), "2024-05-02 03:30"),
        (NIGHTLY, pinged(("success", "2024-05-01 02:59")), "2024-05-01 03:30"),
        (NIGHTLY, pinged(("success", "2024-05-01 03:00")), "2024-05-02 03:30"),
        (NIGHTLY, pinged(), "2024-05-01 03:30"),
        # A start: the run must end within grace, unless the schedule's deadline is sooner.
        (NIGHTLY, pinged(("success", "2024-04-30 03:05"), ("start", "2024-05-01 02:50")),
         "2024-05-01 03:20"),
        (NIGHTLY, pinged(("success", "2024-04-30 03:05"), ("start", "2024-05-01 03:10")),
         "2024-05-01 03:30"),
        (HOURLY, pinged(("success", "2024-05-01 10:00"), ("start", "2024-05-01 10:30")),
         "2024-05-01 10:35"),
        # A grace of 0 sets no limit on the run.
        (PushSchedule(period_s=3600), pinged(("start", "2024-05-01 00:10")), "2024-05-01 01:00"),
    ],
)  # fmt: skip
def test_it_knows_when_a_monitor_becomes_late(
    schedule: PushSchedule, state: PushState, expected_deadline: str
) -> None:
    limit = utc(expected_deadline)

    assert deadline(state, schedule) == limit
    assert is_late(state, schedule, limit - timedelta(microseconds=1)) is None
    assert is_late(state, schedule, limit) is not None


@pytest.mark.parametrize(
    ("schedule", "state", "now", "reason"),
    [
        (
            NIGHTLY,
            pinged(("success", "2024-05-01 03:05")),
            "2024-05-02 04:00",
            "no ping since 2024-05-01 03:05 UTC (expected by 2024-05-02 03:00 UTC + 30m grace)",
        ),
        (
            HOURLY,
            pinged(),
            "2024-05-01 01:05",
            "no ping since monitoring began at 2024-05-01 00:00 UTC "
            "(expected by 2024-05-01 01:00 UTC + 5m grace)",
        ),
        (
            PushSchedule(period_s=60),
            pinged(("success", "2024-05-01 10:00")),
            "2024-05-01 10:01",
            "no ping since 2024-05-01 10:00 UTC (expected by 2024-05-01 10:01 UTC)",
        ),
        (
            PushSchedule(cron="0 3 * * *", timezone=DUBLIN, grace_s=1800),
            pinged(("success", "2024-05-01 02:05")),  # 03:05 IST
            "2024-05-02 02:30",
            "no ping since 2024-05-01 03:05 IST (expected by 2024-05-02 03:00 IST + 30m grace)",
        ),
        (
            NIGHTLY,
            pinged(("success", "2024-04-30 03:05"), ("start", "2024-05-01 02:50")),
            "2024-05-01 03:25",
            "started at 2024-05-01 02:50 UTC and did not finish within 30m",
        ),
    ],
)
def test_it_says_why_a_monitor_is_late(
    schedule: PushSchedule, state: PushState, now: str, reason: str
) -> None:
    assert is_late(state, schedule, utc(now)) == reason
    assert is_late(state, schedule, utc(now)) == reason  # the kept reason, asked again


def test_it_stops_being_late_when_the_job_reports() -> None:
    state = pinged(("success", "2024-05-01 10:00"))
    now = utc("2024-05-01 12:00")
    assert is_late(state, HOURLY, now) is not None

    for kind in ("success", "fail"):
        after = record_ping(state, kind, now).state
        assert is_late(after, HOURLY, now) is None


def test_it_is_late_when_a_started_run_never_finishes_and_not_when_it_does() -> None:
    state = pinged(("success", "2024-05-01 03:05"), ("start", "2024-05-02 03:00"))

    assert is_late(state, NIGHTLY, utc("2024-05-02 03:29:59")) is None
    assert is_late(state, NIGHTLY, utc("2024-05-02 03:30")) == (
        "started at 2024-05-02 03:00 UTC and did not finish within 30m"
    )
    done = record_ping(state, "success", utc("2024-05-02 03:45"))
    assert (done.status, done.reason) == (Status.UP, "ran 45m")
    assert deadline(done.state, NIGHTLY) == utc("2024-05-03 03:30")


@pytest.mark.parametrize(
    ("schedule", "state", "now", "expected"),
    [
        (HOURLY, pinged(("success", "2024-05-01 10:00")), "2024-05-01 10:30", "2024-05-01 11:00"),
        (HOURLY, pinged(("success", "2024-05-01 10:00")), "2024-05-01 15:00", "2024-05-01 11:00"),
        (NIGHTLY, pinged(("success", "2024-05-01 03:05")), "2024-05-01 12:00", "2024-05-02 03:00"),
        (NIGHTLY, pinged(("success", "2024-05-01 03:05")), "2024-05-02 03:10", "2024-05-02 03:00"),
        # That run's grace has passed too: the next run is what the job owes.
        (NIGHTLY, pinged(("success", "2024-05-01 03:05")), "2024-05-02 03:30", "2024-05-03 03:00"),
        (NIGHTLY, pinged(), "2024-05-04 12:00", "2024-05-05 03:00"),
    ],
)
def test_it_shows_when_the_next_ping_is_expected(
    schedule: PushSchedule, state: PushState, now: str, expected: str
) -> None:
    assert next_expected(state, schedule, utc(now)) == utc(expected)


# --- cron in a time zone -------------------------------------------------------------------
# Europe/Dublin in 2024: clocks forward at 01:00 UTC on 31 March (01:00 GMT -> 02:00 IST),
# back at 01:00 UTC on 27 October (02:00 IST -> 01:00 GMT). Dublin is also the zone whose
# tz data calls winter the daylight-saving time, a trap for code that reads dst().


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # A fixed hour keeps its local time across the change.
        ("0 3 * * *", "2024-03-30 03:00", "2024-03-31 02:00"),
        ("0 3 * * *", "2024-03-31 02:00", "2024-04-01 02:00"),
        ("0 3 * * *", "2024-10-26 02:00", "2024-10-27 03:00"),
        # 01:30 does not exist on 31 March: it runs as the clocks jump.
        ("30 1 * * *", "2024-03-30 23:00", "2024-03-31 01:00"),
        ("30 1 * * *", "2024-03-31 01:00", "2024-04-01 00:30"),
        # 01:30 happens twice on 27 October: a fixed hour runs at the first only.
        ("30 1 * * *", "2024-10-26 23:00", "2024-10-27 00:30"),
        ("30 1 * * *", "2024-10-27 00:30", "2024-10-28 01:30"),
        # An any-hour schedule follows the clock: skipped in the gap, twice in the repeat.
        ("*/30 * * * *", "2024-03-31 00:45", "2024-03-31 01:00"),
        ("0 * * * *", "2024-10-27 00:50", "2024-10-27 01:00"),
        ("*/30 * * * *", "2024-10-27 00:30", "2024-10-27 01:00"),
        ("*/30 * * * *", "2024-10-27 01:10", "2024-10-27 01:30"),
        ("*/20 * * * *", "2024-10-27 00:30", "2024-10-27 00:40"),  # first pass before second
        # Expressions croniter walks for us (last day of the month, nth weekday).
        ("0 3 L * *", "2024-03-01 00:00", "2024-03-31 02:00"),
        ("0 3 * * 0#1", "2024-10-01 00:00", "2024-10-06 02:00"),
        ("0 0 29 2 *", "2024-03-01 00:00", "2028-02-29 00:00"),
    ],
)
def test_it_finds_cron_fire_times_across_daylight_saving_changes(
    expression: str, after: str, expected: str
) -> None:
    assert CronSchedule(expression, DUBLIN).next_fire(utc(after)) == utc(expected)


def test_it_keeps_a_nightly_deadline_at_local_time_across_the_change() -> None:
    schedule = PushSchedule(cron="0 3 * * *", timezone=DUBLIN, grace_s=1800)
    before_spring = pinged(("success", "2024-03-30 03:02"))  # 03:02 GMT
    before_autumn = pinged(("success", "2024-10-26 02:02"))  # 03:02 IST

    assert deadline(before_spring, schedule) == utc("2024-03-31 02:30")  # 03:30 IST
    assert deadline(before_autumn, schedule) == utc("2024-10-27 03:30")  # 03:30 GMT


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "period or a cron"),
        ({"period_s": 60, "cron": "* * * * *"}, "period or a cron"),
        ({"period_s": 0}, "positive"),
        ({"period_s": 60, "grace_s": -1}, "negative"),
        ({"cron": "0 3 * *"}, "invalid cron"),
        ({"cron": "0 0 30 2 *"}, "never fires"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "time zone"),
    ],
)
def test_it_refuses_a_schedule_that_cannot_be_used(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PushSchedule(**options)  # type: ignore[arg-type]


# --- storage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        PushState(created_at=T0),
        PushState(
            created_at=T0,
            last_ping_at=utc("2024-05-01 03:01"),
            last_ping_kind=PingKind.EXIT,
            last_exit_status=3,
            started_at=utc("2024-05-01 04:00"),
            last_duration_ms=60_000.5,
        ),
        pinged(("start", "2024-05-01 03:00"), ("success", "2024-05-01 03:01")),
    ],
)
def test_it_round_trips_through_json(state: PushState) -> None:
    stored = json.loads(json.dumps(state.to_dict()))

    assert PushState.from_dict(stored) == state


def test_it_reads_times_stored_with_any_offset_as_utc() -> None:
    state = PushState.from_dict(
        {"created_at": "2024-05-01T02:00:00+02:00", "last_ping_kind": "success"}
    )

    assert state.created_at == T0
    assert state.created_at.tzinfo is UTC
    assert state.last_ping_kind is PingKind.SUCCESS
    assert state.last_ping_at is None


# --- properties ----------------------------------------------------------------------------

ZONES = ["UTC", DUBLIN, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
EXPRESSIONS = ["0 3 * * *", "30 1 * * *", "*/15 * * * *", "0 * * * *", "45 2 * * 1-5", "@daily"]
moments = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)
)
schedules = st.one_of(
    st.builds(
        PushSchedule,
        period_s=st.floats(min_value=1, max_value=7 * 86400),
        grace_s=st.floats(min_value=0, max_value=86400),
    ),
    st.builds(
        PushSchedule,
        cron=st.sampled_from(EXPRESSIONS),
        timezone=st.sampled_from(ZONES),
        grace_s=st.floats(min_value=0, max_value=86400),
    ),
)
kinds = st.sampled_from(["success", "fail", "start", "exit"])


@st.composite
def states(draw: st.DrawFn) -> PushState:
    """A state reached by real pings, at increasing times."""
    at = draw(moments)
    state = PushState(created_at=at)
    for kind in draw(st.lists(kinds, max_size=5)):
        at += draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
        exit_status = draw(st.integers(0, 255)) if kind == "exit" else None
        state = record_ping(state, kind, at, exit_status).state
    return state


@settings(max_examples=300, deadline=None)
@given(states(), schedules)
def test_it_always_sets_the_deadline_after_the_last_ping(
    state: PushState, schedule: PushSchedule
) -> None:
    last = state.last_ping_at or state.created_at

    assert deadline(state, schedule) > last
    assert schedule.due_after(last) > last


@settings(max_examples=300, deadline=None)
@given(
    states(),
    schedules,
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
)
def test_it_stays_late_as_time_goes_on(
    state: PushState, schedule: PushSchedule, wait: timedelta, more: timedelta
) -> None:
    now = (state.last_ping_at or state.created_at) + wait

    if is_late(state, schedule, now) is not None:
        assert is_late(state, schedule, now + more) is not None


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    single = st.one_of(
        st.just("*"),
        number.map(str),
        st.tuples(number, number).map(lambda p: f"{min(p)}-{max(p)}"),
        st.integers(1, high - low + 1).map(lambda n: f"*/{n}"),
        st.tuples(number, number, st.integers(1, 7)).map(
            lambda p: f"{min(p[:2])}-{max(p[:2])}/{p[2]}"
        ),
    )
    return st.lists(single, min_size=1, max_size=3).map(
        lambda parts: "*" if "*" in parts else ",".join(parts)
    )


plain_expressions = st.tuples(
    _field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 6)
).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(plain_expressions, moments)
def test_it_walks_plain_expressions_as_croniter_does(expression: str, after: datetime) -> None:
    try:
        schedule = CronSchedule(expression)
    except ValueError:  # never fires (30 February): croniter would search for years
        return

    expected = croniter(expression, after).get_next(datetime)

    assert schedule.next_fire(after) == expected


# A fixed-hour and an any-hour schedule, each with a test of a local wall time.
_MATCHES: dict[str, Callable[[datetime], bool]] = {
    "30 1 * * *": lambda w: (w.hour, w.minute) == (1, 30),
    "0 2 * * *": lambda w: (w.hour, w.minute) == (2, 0),
    "15 * * * *": lambda w: w.minute == 15,
    "*/20 * * * *": lambda w: w.minute % 20 == 0,
}
# Instants near a change of the clocks in each zone (Lord Howe moves by 30 minutes).
_CHANGES = [
    ("Europe/Dublin", "2024-03-31 01:00"),
    ("Europe/Dublin", "2024-10-27 01:00"),
    ("America/New_York", "2024-03-10 07:00"),
    ("America/New_York", "2024-11-03 06:00"),
    ("Australia/Lord_Howe", "2024-04-06 15:00"),
    ("Australia/Lord_Howe", "2024-10-05 15:30"),
]


def _brute_next(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    """ISC cron, minute by minute: what next_fire must agree with."""
    matches, any_hour = _MATCHES[expression], expression.split()[1] == "*"
    moment = after.replace(second=0, microsecond=0)
    while True:
        moment += timedelta(minutes=1)
        wall = moment.astimezone(zone)
        if matches(wall) and (any_hour or wall.fold == 0):
            return moment
        previous = (moment - timedelta(minutes=1)).astimezone(zone)
        skipped = wall.replace(tzinfo=None) - previous.replace(tzinfo=None) - timedelta(minutes=1)
        if skipped > timedelta(0) and not any_hour:  # the clocks jumped over these minutes
            gap = previous.replace(tzinfo=None)
            minutes = int(skipped / timedelta(minutes=1))
            if any(matches(gap + timedelta(minutes=m)) for m in range(1, minutes + 1)):
                return moment


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(_MATCHES)),
    st.sampled_from(_CHANGES),
    st.integers(-4 * 60, 4 * 60),
    st.integers(0, 59),
)
def test_it_agrees_with_minute_by_minute_cron_near_clock_changes(
    expression: str, change: tuple[str, str], minutes: int, seconds: int
) -> None:
    zone_name, moment = change
    after = utc(moment) + timedelta(minutes=minutes, seconds=seconds)

    found = CronSchedule(expression, zone_name).next_fire(after)

    assert found == _brute_next(expression, ZoneInfo(zone_name), after)
