"""Maintenance windows on a frozen clock: status, wake-ups, and notices told exactly once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from upstate.config.maintenance import Maintenance
from upstate.domain.maintenance import (
    REMINDER_BEFORE,
    MaintenanceNotice,
    MaintenanceStatus,
    MaintenanceWindow,
    NoticeKind,
    active_windows,
    due_notices,
    monitors_in_maintenance,
    next_transition,
    occurrence,
    status_at,
)

M = MaintenanceStatus
K = NoticeKind
T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)  # a Wednesday
TICK = timedelta(microseconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def one_off(
    start: str = "2024-05-02 03:00", end: str = "2024-05-02 05:00", **extra: Any
) -> MaintenanceWindow:
    fields: dict[str, Any] = {"key": "db-upgrade", "title": "DB upgrade", "monitors": ("db", "api")}
    fields.update(created_at=T0, start=utc(start), end=utc(end))
    fields.update(extra)
    return MaintenanceWindow(**fields)


def weekly(**extra: Any) -> MaintenanceWindow:
    """Sundays 03:00-05:00 in Dublin (UTC+1 in summer, so 02:00-04:00 UTC)."""
    fields: dict[str, Any] = {
        "key": "patching",
        "title": "Patching",
        "monitors": ("web",),
        "created_at": T0,
    }
    fields.update(schedule="0 3 * * SUN", duration=7200.0, timezone="Europe/Dublin")
    fields.update(extra)
    return MaintenanceWindow(**fields)


def told(notices: list[MaintenanceNotice]) -> list[tuple[NoticeKind, datetime]]:
    return [(n.kind, n.at) for n in notices]


def on_a_timer(
    window: MaintenanceWindow, until: datetime, seed: int, longest: float = 600
) -> list[MaintenanceNotice]:
    """What a timer calling every 1 s to `longest` s would send, `since` kept between calls."""
    rng = random.Random(seed)
    since, sent = window.created_at - TICK, []
    while since < until:
        now = min(since + timedelta(seconds=rng.uniform(1, longest)), until)
        sent += due_notices(window, since, now)
        since = now
    return sent


# --- the two forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"schedule": "0 3 * * *", "duration": 3600.0, "start": T0}, "not both"),
        ({"schedule": "0 3 * * *"}, "needs a duration"),
        ({"schedule": "0 3 * * *", "duration": 0.0}, "positive"),
        ({"schedule": "not cron", "duration": 60.0}, "invalid cron"),
        ({"schedule": "0 3 * * *", "duration": 60.0, "timezone": "Mars/Base"}, "time zone"),
        ({"schedule": "0 3 * * *", "duration": 60.0, "completed_at": T0}, "one-off"),
        ({}, "needs a schedule and duration, or a start"),
        ({"start": T0}, "an end or a duration"),
        ({"start": T0, "end": T0 + timedelta(hours=1), "duration": 60.0}, "not both"),
        ({"start": T0, "end": T0}, "after start"),
        ({"start": datetime(2024, 5, 1), "duration": 60.0}, "timezone-aware"),
        ({"start": T0, "duration": 60.0, "verifying_at": T0 - TICK}, "before the start"),
    ],
)
def test_it_refuses_windows_that_are_not_exactly_one_whole_form(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MaintenanceWindow(key="w", title="w", monitors=("a",), created_at=T0, **fields)


def test_it_takes_a_config_window_field_for_field() -> None:
    config = Maintenance.model_validate(
        {
            "title": "Upgrade",
            "monitors": ["db"],
            "start": "2024-07-01 03:00",
            "duration": "90m",
            "timezone": "Europe/Dublin",
        }
    )
    window = MaintenanceWindow(key="upgrade", created_at=T0, **dict(config))
    assert window.first == utc("2024-07-01 02:00")  # 03:00 Irish summer time
    assert window.ends == utc("2024-07-01 03:30")
    recurring = Maintenance.model_validate(
        {"title": "Nightly", "monitors": ["db"], "schedule": "0 2 * * *", "duration": "30m"}
    )
    assert MaintenanceWindow(key="n", created_at=T0, **dict(recurring)).recurring


# --- status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "status"),
    [
        ("2024-05-02 02:59:59", M.SCHEDULED),
        ("2024-05-02 03:00", M.IN_PROGRESS),
        ("2024-05-02 04:59:59", M.IN_PROGRESS),
        ("2024-05-02 05:00", M.COMPLETED),
    ],
)
def test_it_derives_a_one_off_windows_status(now: str, status: MaintenanceStatus) -> None:
    assert status_at(one_off(), utc(now)) is status


def test_it_shows_verifying_and_an_early_end_set_by_hand() -> None:
    window = one_off(verifying_at=utc("2024-05-02 04:00"), completed_at=utc("2024-05-02 04:30"))
    assert status_at(window, utc("2024-05-02 03:59")) is M.IN_PROGRESS
    assert status_at(window, utc("2024-05-02 04:00")) is M.VERIFYING
    assert status_at(window, utc("2024-05-02 04:30")) is M.COMPLETED
    assert M.VERIFYING.is_active
    assert active_windows([window], utc("2024-05-02 04:10")) == [window]


@pytest.mark.parametrize(
    ("now", "status"),
    [
        ("2024-05-05 01:59", M.SCHEDULED),
        ("2024-05-05 02:00", M.IN_PROGRESS),  # Sunday 03:00 in Dublin
        ("2024-05-05 03:59", M.IN_PROGRESS),
        ("2024-05-05 04:00", M.SCHEDULED),
        ("2024-05-06 02:30", M.SCHEDULED),  # Monday
        ("2024-12-01 03:30", M.IN_PROGRESS),  # winter: 03:00 in Dublin is 03:00 UTC
        ("2024-12-01 02:30", M.SCHEDULED),
    ],
)
def test_it_derives_a_recurring_windows_status_in_its_time_zone(
    now: str, status: MaintenanceStatus
) -> None:
    assert status_at(weekly(), utc(now)) is status


@pytest.mark.parametrize(
    ("day", "starts"),
    [
        ("2024-03-30", "2024-03-30 01:30"),  # 01:30 GMT
        ("2024-03-31", "2024-03-31 01:00"),  # 01:30 does not exist: as the clocks jump
        ("2024-04-01", "2024-04-01 00:30"),  # 01:30 IST
        ("2024-10-27", "2024-10-27 00:30"),  # 01:30 happens twice: the first time only
        ("2024-10-28", "2024-10-28 01:30"),
    ],
)
def test_it_follows_daylight_saving_time(day: str, starts: str) -> None:
    window = weekly(schedule="30 1 * * *", duration=1800.0)
    assert occurrence(window, utc(f"{day} 00:00")) == (
        utc(starts),
        utc(starts) + timedelta(minutes=30),
    )
    assert status_at(window, utc(starts) - TICK) is M.SCHEDULED
    assert status_at(window, utc(starts)) is M.IN_PROGRESS


def test_it_runs_a_window_in_a_repeated_hour_once() -> None:
    window = weekly(schedule="30 1 * * *", duration=1800.0)
    assert status_at(window, utc("2024-10-27 01:45")) is M.SCHEDULED  # the second 01:45


def test_it_lists_the_monitors_in_maintenance() -> None:
    windows = [one_off(), weekly()]
    assert monitors_in_maintenance(windows, utc("2024-05-02 03:30")) == {"db", "api"}
    assert monitors_in_maintenance(windows, utc("2024-05-05 02:30")) == {"web"}
    assert monitors_in_maintenance(windows, utc("2024-05-03 00:00")) == frozenset()
    assert occurrence(one_off(), utc("2024-05-03 00:00")) is None


def test_it_wakes_the_engine_for_reminders_starts_and_ends() -> None:
    window = one_off()
    assert next_transition([window], T0) == utc("2024-05-02 02:00")
    assert next_transition([window], utc("2024-05-02 02:00")) == utc("2024-05-02 03:00")
    assert next_transition([window], utc("2024-05-02 03:00")) == utc("2024-05-02 05:00")
    assert next_transition([window], utc("2024-05-02 05:00")) is None
    assert next_transition([window, weekly()], utc("2024-05-02 05:00")) == utc("2024-05-05 01:00")


@pytest.mark.parametrize(
    ("schedule", "duration"),
    [
        ("0 3 * * SUN", 7200.0),
        ("30 1 * * *", 1800.0),
        ("0 * * * *", 7200.0),
        ("15 */2 * * *", 1800.0),
    ],
)
def test_it_is_never_late_to_wake_for_a_change_of_status(schedule: str, duration: float) -> None:
    window = weekly(schedule=schedule, duration=duration, created_at=utc("2024-03-28 12:00"))
    moment = utc("2024-03-29 00:00")
    previous = status_at(window, moment)
    wake = next_transition([window], moment)
    for _ in range(4 * 24 * 12):  # four days around the clocks going forward, in 5 minutes
        moment += timedelta(minutes=5)
        status = status_at(window, moment)
        if status is not previous:
            assert wake is not None
            assert wake <= moment
        if wake is not None and wake <= moment:
            wake = next_transition([window], moment)
        previous = status


# --- notices -------------------------------------------------------------------------------


def test_it_tells_subscribers_when_scheduled_an_hour_before_at_the_start_and_at_the_end() -> None:
    notices = on_a_timer(one_off(), utc("2024-05-03 00:00"), seed=1)
    assert told(notices) == [
        (K.SCHEDULED, T0),
        (K.REMINDER, utc("2024-05-02 02:00")),
        (K.STARTED, utc("2024-05-02 03:00")),
        (K.COMPLETED, utc("2024-05-02 05:00")),
    ]
    assert all(
        (n.starts, n.ends) == (utc("2024-05-02 03:00"), utc("2024-05-02 05:00")) for n in notices
    )
    assert len({n.key for n in notices}) == 4


@pytest.mark.parametrize("seed", range(8))
def test_it_tells_each_notice_exactly_once_however_often_the_timer_runs(seed: int) -> None:
    window = weekly()
    notices = on_a_timer(window, utc("2024-05-20 00:00"), seed=seed, longest=3000)
    assert told(notices) == [
        (K.SCHEDULED, T0),
        *[
            (kind, utc(f"2024-05-{day} {hour}"))
            for day in ("05", "12", "19")
            for kind, hour in ((K.REMINDER, "01:00"), (K.STARTED, "02:00"), (K.COMPLETED, "04:00"))
        ],
    ]


def test_it_catches_up_after_a_restart_and_drops_a_reminder_that_came_too_late() -> None:
    window = one_off()
    before = due_notices(window, T0 - TICK, utc("2024-05-02 01:00"))
    assert told(before) == [(K.SCHEDULED, T0)]
    # Down from 01:00 to 03:30: the reminder's hour has passed; the start is still news.
    after = due_notices(window, utc("2024-05-02 01:00"), utc("2024-05-02 03:30"))
    assert told(after) == [(K.STARTED, utc("2024-05-02 03:00"))]
    assert due_notices(window, utc("2024-05-02 03:30"), utc("2024-05-02 03:30")) == []


def test_it_skips_the_reminder_of_a_window_created_within_the_hour() -> None:
    window = one_off(created_at=utc("2024-05-02 02:30"))
    assert told(on_a_timer(window, utc("2024-05-03 00:00"), seed=2)) == [
        (K.SCHEDULED, utc("2024-05-02 02:30")),
        (K.STARTED, utc("2024-05-02 03:00")),
        (K.COMPLETED, utc("2024-05-02 05:00")),
    ]


def test_it_starts_a_window_created_while_it_is_already_running_at_once() -> None:
    window = one_off(created_at=utc("2024-05-02 04:00"))
    assert told(on_a_timer(window, utc("2024-05-03 00:00"), seed=3)) == [
        (K.SCHEDULED, utc("2024-05-02 04:00")),
        (K.STARTED, utc("2024-05-02 04:00")),
        (K.COMPLETED, utc("2024-05-02 05:00")),
    ]
    recurring = weekly(created_at=utc("2024-05-05 03:00"))
    assert told(on_a_timer(recurring, utc("2024-05-06 00:00"), seed=3)) == [
        (K.SCHEDULED, utc("2024-05-05 03:00")),
        (K.STARTED, utc("2024-05-05 03:00")),
        (K.COMPLETED, utc("2024-05-05 04:00")),
    ]


def test_it_says_nothing_about_a_window_created_after_it_ended() -> None:
    window = one_off(created_at=utc("2024-05-02 06:00"))
    assert due_notices(window, T0, utc("2024-05-09 00:00")) == []


def test_it_tells_an_early_end_when_it_happens() -> None:
    window = one_off(completed_at=utc("2024-05-02 03:40"))
    assert told(due_notices(window, utc("2024-05-02 03:30"), utc("2024-05-02 06:00"))) == [
        (K.COMPLETED, utc("2024-05-02 03:40"))
    ]


@pytest.mark.parametrize(
    ("schedule", "duration", "expected"),
    [
        # Hourly, two hours each: one endless stretch, under way when the window was made.
        ("0 * * * *", 7200.0, [(K.STARTED, "2024-05-01 00:30")]),
        # Every two hours, two hours each: back to back, still one stretch.
        ("0 */2 * * *", 7200.0, [(K.STARTED, "2024-05-01 00:30")]),
        # Every four hours for two: one stretch each time.
        (
            "0 */4 * * *",
            7200.0,
            [
                (K.STARTED, "2024-05-01 00:30"),
                (K.COMPLETED, "2024-05-01 02:00"),
                *[
                    (kind, f"2024-05-01 {hour + offset:02}:00")
                    for hour in (4, 8, 12, 16, 20, 24)
                    for kind, offset in ((K.REMINDER, -1), (K.STARTED, 0), (K.COMPLETED, 2))
                    if hour + offset <= 23
                ],
            ],
        ),
        # Two occurrences that touch (06-08, 08-10): one stretch.
        (
            "0 6,8 * * *",
            7200.0,
            [
                (K.REMINDER, "2024-05-01 05:00"),
                (K.STARTED, "2024-05-01 06:00"),
                (K.COMPLETED, "2024-05-01 10:00"),
            ],
        ),
    ],
)
def test_it_tells_overlapping_occurrences_as_one_stretch(
    schedule: str, duration: float, expected: list[tuple[NoticeKind, str]]
) -> None:
    window = weekly(
        schedule=schedule, duration=duration, timezone="UTC", created_at=utc("2024-05-01 00:30")
    )
    notices = on_a_timer(window, utc("2024-05-01 23:00"), seed=4)
    assert told(notices) == [(K.SCHEDULED, utc("2024-05-01 00:30"))] + [
        (k, utc(t)) for k, t in expected
    ]
    assert notices == on_a_timer(window, utc("2024-05-01 23:00"), seed=5, longest=4000)
    assert len({n.key for n in notices}) == len(notices)


def test_it_tells_recurring_notices_at_the_daylight_saving_moments() -> None:
    window = weekly(schedule="30 1 * * *", duration=1800.0, created_at=utc("2024-03-30 12:00"))
    assert told(on_a_timer(window, utc("2024-04-01 12:00"), seed=6)) == [
        (K.SCHEDULED, utc("2024-03-30 12:00")),
        (K.REMINDER, utc("2024-03-31 00:00")),
        (K.STARTED, utc("2024-03-31 01:00")),
        (K.COMPLETED, utc("2024-03-31 01:30")),
        (K.REMINDER, utc("2024-03-31 23:30")),
        (K.STARTED, utc("2024-04-01 00:30")),
        (K.COMPLETED, utc("2024-04-01 01:00")),
    ]
    assert timedelta(hours=1) == REMINDER_BEFORE
