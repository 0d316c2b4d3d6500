"""Incidents: the moves people make, and what monitors going down and up do to them."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from upstate.domain.enums import ComponentStatus, Status
from upstate.domain.incidents import (
    AffectedComponent,
    AutoAction,
    AutoDecision,
    AutoIncidents,
    ComponentRef,
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    InvalidTransition,
    apply_decision,
    apply_update,
    auto_mode,
    can_transition,
    check_transition,
    decide,
    new_incident,
    settled_resolutions,
)
from upstate.domain.markdown import render
from upstate.domain.routing import MonitorFacts, settled
from upstate.domain.status import MonitorState, StatusChange

T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
S = IncidentStatus
C = ComponentStatus
OPEN_STATES = (S.INVESTIGATING, S.IDENTIFIED, S.MONITORING)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- manual moves --------------------------------------------------------------------------


ALLOWED = {
    **{(a, b): True for a in OPEN_STATES for b in (*OPEN_STATES, S.RESOLVED)},
    **{(a, S.POSTMORTEM): False for a in OPEN_STATES},
    (S.RESOLVED, S.RESOLVED): True,
    (S.RESOLVED, S.POSTMORTEM): True,
    (S.POSTMORTEM, S.POSTMORTEM): True,
}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)))
def test_it_allows_only_the_statuspage_moves(current: S, new: S) -> None:
    allowed = ALLOWED.get((current, new), False)
    assert can_transition(current, new) is allowed
    if allowed:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        (S.MONITORING, S.POSTMORTEM, "resolve the incident before"),
        (S.RESOLVED, S.INVESTIGATING, "open a new incident for a recurrence"),
        (S.POSTMORTEM, S.RESOLVED, "only takes postmortem updates"),
    ],
)
def test_it_says_why_a_move_is_refused(current: S, new: S, message: str) -> None:
    with pytest.raises(InvalidTransition, match=message):
        check_transition(current, new)


def manual() -> Incident:
    first = IncidentUpdate(
        S.INVESTIGATING,
        "Errors on **checkout**.",
        at(0),
        (AffectedComponent("checkout", "Checkout", C.OPERATIONAL, C.PARTIAL_OUTAGE),),
    )
    return new_incident("checkout1", "Checkout errors", Impact.MINOR, first)


def test_it_keeps_a_timeline_and_the_component_statuses_of_the_updates() -> None:
    incident = manual()
    assert incident.status is S.INVESTIGATING
    assert incident.components == {"checkout": C.PARTIAL_OUTAGE}
    incident = apply_update(
        incident,
        IncidentUpdate(
            S.IDENTIFIED,
            "A bad deploy.",
            at(5),
            (
                AffectedComponent("checkout", "Checkout", C.PARTIAL_OUTAGE, C.MAJOR_OUTAGE),
                AffectedComponent("api", "API", C.OPERATIONAL, C.DEGRADED_PERFORMANCE),
            ),
        ),
    )
    incident = apply_update(incident, IncidentUpdate(S.MONITORING, "Rolled back.", at(9)))
    incident = apply_update(incident, IncidentUpdate(S.INVESTIGATING, "Errors again.", at(12)))
    incident = apply_update(incident, IncidentUpdate(S.MONITORING, "Fixed for real.", at(20)))
    assert incident.components == {"checkout": C.MAJOR_OUTAGE, "api": C.DEGRADED_PERFORMANCE}
    assert [u.status for u in incident.updates] == [
        S.INVESTIGATING, S.IDENTIFIED, S.MONITORING, S.INVESTIGATING, S.MONITORING,
    ]  # fmt: skip
    assert incident.monitoring_at == at(20)
    assert incident.resolved_at is None
    assert incident.duration(at(30)) == timedelta(minutes=30)


def test_it_sets_resolved_at_once_and_keeps_it_through_the_postmortem() -> None:
    incident = apply_update(manual(), IncidentUpdate(S.RESOLVED, "Done.", at(40)))
    assert incident.resolved_at == at(40)
    assert not incident.is_open
    incident = apply_update(incident, IncidentUpdate(S.RESOLVED, "A note.", at(50)))
    incident = apply_update(incident, IncidentUpdate(S.POSTMORTEM, "What happened.", at(90)))
    assert incident.resolved_at == at(40)
    assert incident.duration(at(1000)) == timedelta(minutes=40)
    with pytest.raises(InvalidTransition):
        apply_update(incident, IncidentUpdate(S.INVESTIGATING, "Again?", at(100)))


def test_it_refuses_updates_dated_before_the_start_and_incidents_born_as_postmortems() -> None:
    with pytest.raises(ValueError, match="before the incident started"):
        apply_update(manual(), IncidentUpdate(S.IDENTIFIED, "x", at(-1)))
    with pytest.raises(InvalidTransition):
        new_incident("x", "t", Impact.NONE, IncidentUpdate(S.POSTMORTEM, "x", at(0)))
    with pytest.raises(ValueError, match="title"):
        new_incident("x", "  ", Impact.NONE, IncidentUpdate(S.INVESTIGATING, "x", at(0)))


def test_it_records_an_incident_resolved_after_the_fact() -> None:
    past = new_incident(
        "x", "Outage last night", Impact.MAJOR, IncidentUpdate(S.RESOLVED, "x", at(0))
    )
    assert past.resolved_at == at(0)


# --- automatic incidents -------------------------------------------------------------------

# db <- api <- web (depends_on); api and api-eu back the "api" component; db backs "db".
MONITORS = {
    "db": MonitorFacts("db", "Database", critical=True),
    "api": MonitorFacts("api", "API", depends_on=("db",)),
    "api-eu": MonitorFacts("api-eu", "API (EU)"),
    "web": MonitorFacts("web", "Web *site*", depends_on=("api",)),
    "lonely": MonitorFacts("lonely", "Lonely"),
}
COMPONENTS = {
    "db": (ComponentRef("db", "Database"),),
    "api": (ComponentRef("api", "API"),),
    "api-eu": (ComponentRef("api", "API"),),
    "web": (ComponentRef("web", "Website"),),
}


class World:
    """Monitors and incidents as a store would keep them, driven one change at a time."""

    def __init__(
        self,
        mode: AutoIncidents = AutoIncidents.DRAFT,
        monitors: Mapping[str, MonitorFacts] = MONITORS,
    ) -> None:
        self.mode = mode
        self.monitors = monitors
        self.states: dict[str, MonitorState] = {k: MonitorState(status=Status.UP) for k in MONITORS}
        self.incidents: dict[str, Incident] = {}
        self.ids = (f"inc{n}" for n in itertools.count(1))

    def set(
        self,
        key: str,
        status: Status,
        minute: float,
        *,
        flapping: bool = False,
        reason: str = "timeout",
    ) -> AutoDecision:
        change = StatusChange(self.states[key].status, status, at(minute), reason, flapping)
        self.states[key] = MonitorState(status=status, flapping=flapping)
        return self.apply(decide(key, change, **self.context()))

    def context(self) -> dict[str, object]:
        return {
            "incidents": [i for i in self.incidents.values() if i.is_open],
            "monitors": self.monitors,
            "components": COMPONENTS,
            "states": self.states,
            "mode": self.mode,
        }

    def apply(self, decision: AutoDecision) -> AutoDecision:
        current = self.incidents.get(decision.incident_id or "")
        incident = apply_decision(decision, current, next(self.ids))
        if incident is not None:
            self.incidents[incident.id] = incident
        return decision

    def only(self) -> Incident:
        (incident,) = self.incidents.values()
        return incident


def test_it_opens_a_draft_incident_when_a_monitor_goes_down() -> None:
    world = World()
    decision = world.set("api", Status.DOWN, 0, reason="connection refused")
    assert decision.action is AutoAction.OPEN
    incident = world.only()
    assert incident.title == "API is down"
    assert incident.status is S.INVESTIGATING
    assert incident.impact is Impact.MINOR
    assert incident.draft
    assert incident.auto
    assert incident.started_at == at(0)
    assert incident.monitors == ("api",)
    assert incident.components == {"api": C.PARTIAL_OUTAGE}  # api-eu still serves
    assert incident.updates[0].body == "API is down: connection refused."


def test_it_publishes_at_once_when_the_page_says_publish_and_opens_nothing_when_off() -> None:
    published = World(AutoIncidents.PUBLISH)
    published.set("api", Status.DOWN, 0)
    assert not published.only().draft
    off = World(AutoIncidents.OFF)
    assert off.set("api", Status.DOWN, 0).action is AutoAction.NOTHING
    assert off.incidents == {}


def test_it_derives_the_impact_from_criticality() -> None:
    world = World()
    world.set("db", Status.DOWN, 0)
    assert world.only().impact is Impact.MAJOR
    assert world.only().components == {"db": C.MAJOR_OUTAGE}


def test_it_picks_the_most_public_mode_of_the_pages_showing_a_monitor() -> None:
    assert auto_mode(["off", "publish", "draft"]) is AutoIncidents.PUBLISH
    assert auto_mode(["off", "draft"]) is AutoIncidents.DRAFT
    assert auto_mode([]) is AutoIncidents.OFF


def test_it_joins_monitors_of_the_same_component_into_one_incident() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    decision = world.set("api-eu", Status.DOWN, 2)
    assert decision.action is AutoAction.JOIN
    incident = world.only()
    assert incident.monitors == ("api", "api-eu")
    assert incident.components == {"api": C.MAJOR_OUTAGE}
    assert incident.updates[-1].affected_components == (
        AffectedComponent("api", "API", C.PARTIAL_OUTAGE, C.MAJOR_OUTAGE),
    )
    assert incident.updates[-1].status is S.INVESTIGATING


def test_it_joins_a_child_to_its_down_parents_incident() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    assert world.set("web", Status.DOWN, 1).action is AutoAction.JOIN
    assert world.only().components == {"api": C.PARTIAL_OUTAGE, "web": C.MAJOR_OUTAGE}
    assert world.only().impact is Impact.MINOR
    # The critical database goes down after its dependent: it opens its own outage.
    assert world.set("db", Status.DOWN, 2).action is AutoAction.OPEN
    assert len(world.incidents) == 2


def test_it_raises_the_impact_when_a_critical_monitor_joins_and_never_lowers_it() -> None:
    world = World(monitors={**MONITORS, "api-eu": MonitorFacts("api-eu", critical=True)})
    world.set("api", Status.DOWN, 0)
    assert world.only().impact is Impact.MINOR
    assert world.set("api-eu", Status.DOWN, 1).impact is Impact.MAJOR
    assert world.only().impact is Impact.MAJOR
    world.set("web", Status.DOWN, 2)  # a minor monitor joins the major incident
    assert world.only().impact is Impact.MAJOR


def test_it_joins_the_parents_incident_even_when_the_child_opens_nothing_of_its_own() -> None:
    world = World()
    world.set("db", Status.DOWN, 0)
    world.set("api", Status.DOWN, 1)  # api depends on db: it joins
    incident = world.only()
    assert incident.monitors == ("db", "api")
    assert incident.impact is Impact.MAJOR


def test_it_prefers_the_parents_incident_to_one_sharing_a_component() -> None:
    world = World()
    world.set("api-eu", Status.DOWN, 0)  # inc1: the api component
    world.set("db", Status.DOWN, 1)  # inc2
    decision = world.set("api", Status.DOWN, 2)  # shares a component with inc1, parent in inc2
    assert decision.incident_id == "inc2"


def test_it_opens_a_separate_incident_for_an_unrelated_monitor() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    assert world.set("lonely", Status.DOWN, 1).action is AutoAction.OPEN
    assert world.incidents["inc2"].components == {}


def test_it_does_nothing_when_a_monitor_already_in_the_incident_is_down_again() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    assert world.set("api", Status.DOWN, 1).action is AutoAction.NOTHING


def test_it_updates_then_resolves_as_the_monitors_recover_with_the_duration() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    world.set("api-eu", Status.DOWN, 2)
    decision = world.set("api", Status.UP, 10)
    assert decision.action is AutoAction.UPDATE
    assert world.only().components == {"api": C.PARTIAL_OUTAGE}
    assert world.only().is_open
    # Down again before the incident is over: the component says so.
    assert world.set("api", Status.DOWN, 11).action is AutoAction.UPDATE
    assert world.only().components == {"api": C.MAJOR_OUTAGE}
    world.set("api", Status.UP, 12)
    decision = world.set("api-eu", Status.DEGRADED, 14)
    assert decision.action is AutoAction.RESOLVE
    assert decision.duration == timedelta(minutes=14)
    incident = world.only()
    assert incident.status is S.RESOLVED
    assert incident.resolved_at == at(14)
    assert incident.components == {"api": C.OPERATIONAL}
    assert incident.updates[-1].body == "Resolved: API, API \\(EU\\) recovered after 14m."
    assert incident.updates[-1].affected_components == (
        AffectedComponent("api", "API", C.PARTIAL_OUTAGE, C.OPERATIONAL),
    )
    # The next outage is a new incident.
    assert world.set("api", Status.DOWN, 30).action is AutoAction.OPEN


@pytest.mark.parametrize("status", [Status.UNKNOWN, Status.PAUSED, Status.MAINTENANCE])
def test_it_keeps_the_incident_open_without_evidence_of_recovery(status: Status) -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    assert world.set("api", status, 5).action is AutoAction.NOTHING
    assert world.only().is_open


def test_it_holds_a_flapping_monitors_recovery_until_it_settles() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    for minute in range(1, 9, 2):
        assert world.set("api", Status.UP, minute, flapping=True).action is AutoAction.NOTHING
        assert world.set("api", Status.DOWN, minute + 1, flapping=True).action is AutoAction.NOTHING
    world.set("api", Status.UP, 9, flapping=True)
    assert len(world.incidents) == 1
    assert world.only().is_open
    # The flag clears with no change of status: a sweep, or a settled change, resolves it.
    world.states["api"] = MonitorState(status=Status.UP, flapping=False)
    (sweep,) = settled_resolutions(
        list(world.incidents.values()),
        monitors=MONITORS,
        components=COMPONENTS,
        states=world.states,
        now=at(40),
    )
    assert sweep.action is AutoAction.RESOLVE
    assert sweep.duration == timedelta(minutes=40)
    decision = decide("api", settled(world.states["api"], at(40)), **world.context())  # type: ignore[arg-type]
    assert decision == sweep


def test_it_sweeps_nothing_while_a_monitor_of_the_incident_is_down_or_flapping() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    world.set("api-eu", Status.DOWN, 1)
    world.set("api", Status.UP, 2)
    world.states["api"] = MonitorState(status=Status.UP, flapping=True)
    args: Mapping[str, object] = {"monitors": MONITORS, "components": COMPONENTS, "now": at(3)}
    assert settled_resolutions(list(world.incidents.values()), states=world.states, **args) == []  # type: ignore[arg-type]
    world.states["api-eu"] = MonitorState(status=Status.UP)
    assert settled_resolutions(list(world.incidents.values()), states=world.states, **args) == []  # type: ignore[arg-type]


def test_it_is_not_held_open_by_a_monitor_that_was_deleted() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    world.set("api-eu", Status.DOWN, 1)
    del world.states["api-eu"]
    assert world.set("api", Status.UP, 5).action is AutoAction.RESOLVE


def test_it_resolves_open_automatic_incidents_even_when_switched_off() -> None:
    world = World()
    world.set("api", Status.DOWN, 0)
    world.mode = AutoIncidents.OFF
    assert world.set("api", Status.UP, 3).action is AutoAction.RESOLVE


def test_it_never_joins_or_resolves_an_incident_a_person_opened() -> None:
    world = World()
    person = new_incident(
        "manual",
        "API slow",
        Impact.MINOR,
        IncidentUpdate(
            S.IDENTIFIED,
            "x",
            at(0),
            (AffectedComponent("api", "API", C.OPERATIONAL, C.DEGRADED_PERFORMANCE),),
        ),
        monitors=("api-eu",),
    )
    world.incidents["manual"] = person
    assert world.set("api", Status.DOWN, 1).action is AutoAction.OPEN
    assert world.set("api-eu", Status.DOWN, 2).incident_id == "inc1"
    world.set("api", Status.UP, 3)
    world.set("api-eu", Status.UP, 4)
    assert world.incidents["manual"] == person
    assert world.incidents["inc1"].status is S.RESOLVED


def test_it_writes_names_and_reasons_into_bodies_as_literal_text() -> None:
    world = World()
    world.set("web", Status.DOWN, 0, reason="<script>alert(1)</script> [x](javascript:alert(1))")
    body = world.only().updates[0].body
    output = render(body)
    assert "<script" not in output
    assert "<em>" not in output
    assert "<a " not in output
    assert (
        "Web *site* is down: &lt;script&gt;alert(1)&lt;/script&gt; [x](javascript:alert(1))."
        in output
    )


def test_it_refuses_to_apply_a_decision_to_the_wrong_incident() -> None:
    world = World()
    decision = world.set("api", Status.DOWN, 0)
    with pytest.raises(ValueError, match="new id"):
        apply_decision(decision, None)
    update = world.set("api-eu", Status.DOWN, 1)
    with pytest.raises(ValueError, match="inc1"):
        apply_decision(update, manual())
    assert apply_decision(AutoDecision(AutoAction.NOTHING), None) is None
