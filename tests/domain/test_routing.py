"""Routing decisions on a frozen clock: which channels, which alert, and when to stay quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from upstate.config.notifications import Notifications
from upstate.domain.enums import MonitorKind, Status
from upstate.domain.routing import (
    Alert,
    AlertKind,
    LastNotice,
    MonitorFacts,
    Route,
    RouteLike,
    RouteMatch,
    down_parents,
    match_route,
    reminders_due,
    route,
    settled,
)
from upstate.domain.status import MonitorState, StatusChange

T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
API = MonitorFacts("api", "API", MonitorKind.HTTP, tags=("web", "prod"), depends_on=("db",))
DB = MonitorFacts("db", "Database", MonitorKind.TCP, tags=("db",), critical=True)
ROUTES: tuple[RouteLike, ...] = (
    Route(("pager",), RouteMatch(critical=True), remind_every=600),
    Route(("db-team",), RouteMatch(tags=("db", "storage"))),
    Route(("web-team", "chat"), RouteMatch(tags=("web",), kinds=(MonitorKind.HTTP,))),
    Route(("ops",), RouteMatch(monitors=("cron",))),
)
EVERYONE = Route(("mail",), remind_every=3600)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def change(
    status: Status, previous: Status = Status.UP, minutes: float = 0, *, flapping: bool = False
) -> StatusChange:
    return StatusChange(previous, status, at(minutes), "reason", flapping)


def told(kind: AlertKind, minutes: float = 0) -> LastNotice:
    return LastNotice(kind, at(minutes))


def ask(
    status: Status,
    last: LastNotice | None = None,
    *,
    previous: Status = Status.UP,
    facts: MonitorFacts = API,
    parents_down: bool = False,
    flapping: bool = False,
    in_maintenance: bool = False,
) -> list[AlertKind]:
    alerts = route(
        change(status, previous, flapping=flapping),
        facts,
        ROUTES,
        parents_down=parents_down,
        last_notice=last,
        in_maintenance=in_maintenance,
    )
    kinds = {a.kind for a in alerts}
    assert len(kinds) <= 1
    return sorted(kinds)


# --- which route ---------------------------------------------------------------------------


def test_it_takes_the_first_matching_route() -> None:
    # The database matches `critical` and its `db` tag: the first route wins.
    assert match_route(DB, ROUTES) is ROUTES[0]
    assert route(change(Status.DOWN), DB, ROUTES, parents_down=False, last_notice=None) == [
        Alert("pager", AlertKind.DOWN)
    ]


@pytest.mark.parametrize(
    ("facts", "channels"),
    [
        (MonitorFacts("cache", tags=("storage",)), ("db-team",)),  # any one tag is enough
        (MonitorFacts("site", kind=MonitorKind.HTTP, tags=("web",)), ("web-team", "chat")),
        (MonitorFacts("site", kind=MonitorKind.TCP, tags=("web",)), None),  # every criterion holds
        (MonitorFacts("cron", kind=MonitorKind.PUSH), ("ops",)),
        (MonitorFacts("other"), None),
    ],
)
def test_it_matches_routes_by_tags_keys_kinds_and_criticality(
    facts: MonitorFacts, channels: tuple[str, ...] | None
) -> None:
    chosen = match_route(facts, ROUTES)
    assert (chosen.channels if chosen else None) == channels


def test_it_falls_back_to_the_default_route_and_else_stays_silent() -> None:
    lonely = MonitorFacts("other")
    down = change(Status.DOWN)
    assert route(down, lonely, ROUTES, parents_down=False, last_notice=None) == []
    assert route(down, lonely, ROUTES, parents_down=False, last_notice=None, default=EVERYONE) == [
        Alert("mail", AlertKind.DOWN)
    ]
    # A route without criteria catches everything, so the default is never reached.
    catch_all = (*ROUTES, Route(("fallback",)))
    assert route(
        down, lonely, catch_all, parents_down=False, last_notice=None, default=EVERYONE
    ) == [Alert("fallback", AlertKind.DOWN)]


def test_it_reads_routes_from_the_config_as_they_are() -> None:
    config = Notifications.model_validate(
        {
            "channels": [
                {"kind": "webhook", "key": "hook", "url": "https://hooks.example.com/x"},
                {"kind": "pagerduty", "key": "pd", "routing_key": "R0123456789"},
            ],
            "routes": [
                {
                    "match": {"tags": ["db"], "critical": True},
                    "channels": ["pd"],
                    "remind_every": "10m",
                },
                {"channels": ["hook"]},
            ],
        }
    )
    assert route(change(Status.DOWN), DB, config.routes, parents_down=False, last_notice=None) == [
        Alert("pd", AlertKind.DOWN)
    ]
    assert route(change(Status.DOWN), API, config.routes, parents_down=False, last_notice=None) == [
        Alert("hook", AlertKind.DOWN)
    ]
    state = MonitorState(status=Status.DOWN)
    due = reminders_due(
        state, DB, config.routes, parents_down=False, last_notice=told(AlertKind.DOWN), now=at(10)
    )
    assert due == [Alert("pd", AlertKind.REMINDER)]


# --- what is said --------------------------------------------------------------------------


def test_it_alerts_once_per_outage_and_sends_the_recovery() -> None:
    assert ask(Status.DOWN) == [AlertKind.DOWN]
    assert ask(Status.DOWN, told(AlertKind.DOWN), previous=Status.UNKNOWN) == []  # asked again
    assert ask(Status.DOWN, told(AlertKind.REMINDER)) == []
    assert ask(Status.UP, told(AlertKind.DOWN), previous=Status.DOWN) == [AlertKind.UP]
    assert ask(Status.UP, told(AlertKind.UP), previous=Status.DOWN) == []


def test_it_says_nothing_about_a_new_monitor_that_is_up_but_alerts_one_that_is_down() -> None:
    assert ask(Status.UP, None, previous=Status.UNKNOWN) == []
    assert ask(Status.DOWN, None, previous=Status.UNKNOWN) == [AlertKind.DOWN]


def test_it_alerts_on_degraded_and_on_a_partial_recovery_to_degraded() -> None:
    assert ask(Status.DEGRADED) == [AlertKind.DEGRADED]
    assert ask(Status.DEGRADED, told(AlertKind.DEGRADED)) == []
    assert ask(Status.DEGRADED, told(AlertKind.DOWN), previous=Status.DOWN) == [AlertKind.DEGRADED]
    assert ask(Status.UP, told(AlertKind.DEGRADED), previous=Status.DEGRADED) == [AlertKind.UP]
    assert ask(Status.DOWN, told(AlertKind.DEGRADED), previous=Status.DEGRADED) == [AlertKind.DOWN]


@pytest.mark.parametrize("status", [Status.UNKNOWN, Status.PAUSED, Status.MAINTENANCE])
def test_it_says_nothing_for_statuses_that_are_not_verdicts(status: Status) -> None:
    assert ask(status, told(AlertKind.DOWN), previous=Status.DOWN) == []
    assert ask(status, None) == []


def test_it_suppresses_alerts_during_maintenance_and_compares_after_it() -> None:
    assert ask(Status.DOWN, in_maintenance=True) == []
    # The window ends on a monitor still down that was announced before: nothing new.
    assert ask(Status.DOWN, told(AlertKind.DOWN), previous=Status.MAINTENANCE) == []
    # It ends with the monitor up again: the outage announced before is over.
    assert ask(Status.UP, told(AlertKind.DOWN), previous=Status.MAINTENANCE) == [AlertKind.UP]


# --- dependencies --------------------------------------------------------------------------


def test_it_finds_the_direct_parents_that_are_down() -> None:
    child = MonitorFacts("app", depends_on=("db", "cache", "dns"))
    statuses = {"db": Status.DOWN, "cache": Status.UP, "dns": Status.DOWN}
    assert down_parents(child, statuses) == ("db", "dns")
    assert down_parents(child, {"db": Status.MAINTENANCE}) == ()


def test_it_holds_back_a_childs_alert_while_its_parent_is_down() -> None:
    assert ask(Status.DOWN, parents_down=True) == []
    assert ask(Status.DEGRADED, parents_down=True) == []
    assert ask(Status.DOWN, parents_down=True, flapping=True) == []
    # Its recovery says nothing either: nobody heard of its outage.
    assert ask(Status.UP, None, previous=Status.DOWN, parents_down=True) == []


def test_it_still_sends_the_recovery_of_an_outage_announced_before_the_parent_failed() -> None:
    assert ask(Status.UP, told(AlertKind.DOWN), previous=Status.DOWN, parents_down=True) == [
        AlertKind.UP
    ]


def test_it_sends_the_held_alert_once_the_parent_recovers_and_the_child_is_still_down() -> None:
    state = MonitorState(status=Status.DOWN)
    assert reminders_due(state, API, ROUTES, parents_down=True, last_notice=None, now=at(5)) == []
    assert reminders_due(state, API, ROUTES, parents_down=False, last_notice=None, now=at(5)) == [
        Alert("web-team", AlertKind.DOWN),
        Alert("chat", AlertKind.DOWN),
    ]


# --- flapping ------------------------------------------------------------------------------


def test_it_sends_one_flapping_notice_then_silence_until_the_monitor_settles() -> None:
    assert ask(Status.DOWN, told(AlertKind.DOWN), flapping=True) == [AlertKind.FLAPPING]
    for status in (Status.UP, Status.DOWN, Status.DEGRADED, Status.UP):
        assert ask(status, told(AlertKind.FLAPPING), flapping=True) == []
    assert ask(Status.UP, told(AlertKind.FLAPPING)) == [AlertKind.UP]
    assert ask(Status.DOWN, told(AlertKind.FLAPPING)) == [AlertKind.DOWN]


def test_it_notices_a_flapping_flag_that_cleared_without_a_status_change() -> None:
    state = MonitorState(status=Status.UP, flapping=False)
    last = told(AlertKind.FLAPPING)
    assert route(settled(state, at(30)), API, ROUTES, parents_down=False, last_notice=last) == [
        Alert("web-team", AlertKind.UP),
        Alert("chat", AlertKind.UP),
    ]
    due = reminders_due(state, API, ROUTES, parents_down=False, last_notice=last, now=at(30))
    assert [a.kind for a in due] == [AlertKind.UP, AlertKind.UP]
    flapping = MonitorState(status=Status.UP, flapping=True)
    assert (
        reminders_due(flapping, API, ROUTES, parents_down=False, last_notice=last, now=at(30)) == []
    )


# --- reminders -----------------------------------------------------------------------------


def remind(
    minutes: float,
    last: LastNotice | None,
    *,
    status: Status = Status.DOWN,
    flapping: bool = False,
    parents_down: bool = False,
    in_maintenance: bool = False,
) -> list[Alert]:
    return reminders_due(
        MonitorState(status=status, flapping=flapping),
        DB,
        ROUTES,
        parents_down=parents_down,
        last_notice=last,
        now=at(minutes),
        in_maintenance=in_maintenance,
    )


def test_it_reminds_every_remind_every_while_still_down() -> None:
    assert remind(9.99, told(AlertKind.DOWN, 0)) == []
    assert remind(10, told(AlertKind.DOWN, 0)) == [Alert("pager", AlertKind.REMINDER)]
    assert remind(15, told(AlertKind.REMINDER, 10)) == []  # counted from the last reminder
    assert remind(20, told(AlertKind.REMINDER, 10)) == [Alert("pager", AlertKind.REMINDER)]


@pytest.mark.parametrize(
    "why",
    ["flapping", "parents_down", "in_maintenance", "degraded", "up", "no remind_every", "untold"],
)
def test_it_does_not_remind(why: str) -> None:
    last = told(AlertKind.DOWN, 0)
    if why == "degraded":
        assert remind(60, told(AlertKind.DEGRADED), status=Status.DEGRADED) == []
    elif why == "up":
        assert remind(60, told(AlertKind.UP), status=Status.UP) == []
    elif why == "no remind_every":
        state = MonitorState(status=Status.DOWN)
        assert (
            reminders_due(state, API, ROUTES, parents_down=False, last_notice=last, now=at(600))
            == []
        )
    elif why == "untold":
        # Never told and still down: the DOWN is owed, not a reminder.
        assert remind(60, None) == [Alert("pager", AlertKind.DOWN)]
    elif why == "flapping":
        assert remind(60, told(AlertKind.FLAPPING), flapping=True) == []
    else:
        assert remind(60, last, **{why: True}) == []


def test_it_tells_one_outage_exactly_once_with_reminders_on_a_timer() -> None:
    """A whole outage driven minute by minute: changes through `route`, time through
    `reminders_due`, each answer remembered as a real notifier would."""
    timeline = {0: Status.UP, 3: Status.DOWN, 47: Status.DEGRADED, 50: Status.DOWN, 61: Status.UP}
    state = MonitorState(status=Status.UP)
    last: LastNotice | None = None
    sent: list[tuple[int, AlertKind]] = []
    for minute in range(0, 90):
        if minute in timeline and timeline[minute] is not state.status:
            step = StatusChange(state.status, timeline[minute], at(minute), "", False)
            state = MonitorState(status=timeline[minute])
            alerts = route(step, DB, ROUTES, parents_down=False, last_notice=last)
        else:
            alerts = reminders_due(
                state, DB, ROUTES, parents_down=False, last_notice=last, now=at(minute)
            )
        if alerts:
            sent.extend((minute, a.kind) for a in alerts)
            last = LastNotice(alerts[0].kind, at(minute))
    assert sent == [
        (3, AlertKind.DOWN),
        (13, AlertKind.REMINDER),
        (23, AlertKind.REMINDER),
        (33, AlertKind.REMINDER),
        (43, AlertKind.REMINDER),
        (47, AlertKind.DEGRADED),
        (50, AlertKind.DOWN),
        (60, AlertKind.REMINDER),
        (61, AlertKind.UP),
    ]
