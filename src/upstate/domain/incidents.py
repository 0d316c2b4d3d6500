"""Incidents: the Statuspage vocabulary, the moves people make, and the automatic rules.

An incident is what a status page tells the public: a title, a status, an impact, the
components it affects (each with a Statuspage component status) and a timeline of
updates with Markdown bodies. The store keeps them; this module says which changes are
allowed (`check_transition`, `apply_update`) and what a monitor's status change does to
the automatic ones (`decide`). Time is always an argument.

Manual moves, as Statuspage allows them:

- An open incident (`investigating`, `identified`, `monitoring`) may take any open status
  or `resolved` with each update: forwards as work progresses, and backwards too, because
  "the fix did not hold, investigating again" is a real update people post.
- `resolved` is final for the outage: it may only take further `resolved` updates (a
  note) or move to `postmortem`, which may only take more `postmortem` updates. There is
  no reopening: a recurrence is a new incident, so each outage keeps its own duration.
- `postmortem` is reached only through `resolved`; an incident may be created in any
  status but `postmortem` (a resolved one records an outage after the fact).

Automatic rules (`decide`), for status pages with `auto_incidents` draft or publish:

- **A monitor going DOWN** opens an incident titled "<monitor> is down", status
  `investigating`, unless it is already in an open automatic incident. It joins an
  existing open automatic incident instead when a `depends_on` parent that is DOWN is in
  one (the parent's outage explains it), else when a monitor backing one of the same
  components is in one (one component, one outage). One incident per outage.
- **Impact** comes from the monitor: a critical monitor (its outage takes the overall
  status down) makes the impact `major`, any other `minor`. Joining raises the impact to
  the joiner's, never lowers it. `critical` is for people to declare.
- **Component statuses** follow the Statuspage mapping, from the monitors backing each
  component that an incident monitor backs: all of them DOWN is `major_outage`, some is
  `partial_outage`, none `operational`. Each update lists the components it changed
  (`affected_components`, old and new status).
- **Recovery resolves on evidence.** When every monitor in the incident is UP or
  DEGRADED and none is flapping, the incident is resolved, with an update that gives the
  duration, and its components return to `operational`. A monitor that recovers while
  others are still down posts an update (its components change). UNKNOWN, PAUSED and
  MAINTENANCE are not evidence of recovery: the incident stays open (a person may
  resolve it). Monitors no longer known (deleted from the config) do not hold it open.
  A flapping monitor's recovery is held likewise, so a flapping monitor
  keeps one incident instead of opening one per flap; when the flag clears, ask again
  (`routing.settled`) or sweep with `settled_resolutions`.
- **Drafts.** Automatic incidents start as drafts unless the page says `publish`. With
  `off` nothing is opened or joined, but open automatic incidents still resolve. Only
  automatic incidents are joined or resolved automatically: an incident a person opened
  is theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from upstate.domain.durations import format_duration
from upstate.domain.enums import ComponentStatus, Status
from upstate.domain.markdown import escape
from upstate.domain.routing import MonitorFacts, down_parents
from upstate.domain.status import MonitorState, StatusChange


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"

    @property
    def is_open(self) -> bool:
        return self in _OPEN


_OPEN = frozenset(
    (IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING)
)


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _IMPACT_RANK[self]


_IMPACT_RANK = {Impact.NONE: 0, Impact.MINOR: 1, Impact.MAJOR: 2, Impact.CRITICAL: 3}


class AutoIncidents(StrEnum):
    """A status page's `auto_incidents` setting."""

    OFF = "off"
    DRAFT = "draft"
    PUBLISH = "publish"


_MODE_RANK = {AutoIncidents.OFF: 0, AutoIncidents.DRAFT: 1, AutoIncidents.PUBLISH: 2}


def auto_mode(modes: Iterable[str]) -> AutoIncidents:
    """The mode for a monitor shown on several pages: the most public of theirs."""
    return max(
        (AutoIncidents(mode) for mode in modes),
        key=_MODE_RANK.__getitem__,
        default=AutoIncidents.OFF,
    )


class InvalidTransition(ValueError):
    """An update asks for a status the incident cannot take from where it is."""


@dataclass(frozen=True, slots=True)
class ComponentRef:
    """A status page component as incidents name it: a stable code and its display name."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class AffectedComponent:
    """Statuspage's `affected_components` item: one component's status before and after."""

    code: str
    name: str
    old_status: ComponentStatus
    new_status: ComponentStatus


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    """One entry of the timeline; `body` is Markdown (markdown.render makes it HTML)."""

    status: IncidentStatus
    body: str
    at: datetime
    affected_components: tuple[AffectedComponent, ...] = ()


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as the store keeps it. `components` maps a component code to the

    status the incident gives it (treat it as read-only). `monitors` are the monitors an
    automatic incident covers. `resolved_at` is set when it is resolved.
    """

    id: str
    title: str
    status: IncidentStatus
    impact: Impact
    started_at: datetime
    resolved_at: datetime | None = None
    draft: bool = False
    auto: bool = False
    components: Mapping[str, ComponentStatus] = field(default_factory=dict)
    updates: tuple[IncidentUpdate, ...] = ()
    monitors: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()  # slugs of the status pages that show it

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def monitoring_at(self) -> datetime | None:
        """When the latest `monitoring` update was posted (Statuspage's monitoring_at)."""
        moments = [u.at for u in self.updates if u.status is IncidentStatus.MONITORING]
        return moments[-1] if moments else None

    def duration(self, now: datetime) -> timedelta:
        """How long it lasted, or has lasted so far."""
        return (self.resolved_at or now) - self.started_at


# --- manual moves --------------------------------------------------------------------------


def can_transition(current: IncidentStatus, new: IncidentStatus) -> bool:
    if current.is_open:
        return new is not IncidentStatus.POSTMORTEM
    if current is IncidentStatus.RESOLVED:
        return new in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM)
    return new is IncidentStatus.POSTMORTEM


def check_transition(current: IncidentStatus, new: IncidentStatus) -> None:
    """Raises InvalidTransition, with a reason a person can act on, for a refused move."""
    if can_transition(current, new):
        return
    if new is IncidentStatus.POSTMORTEM:
        raise InvalidTransition("resolve the incident before posting a postmortem")
    if current is IncidentStatus.POSTMORTEM:
        raise InvalidTransition("an incident with a postmortem only takes postmortem updates")
    raise InvalidTransition(
        f"a resolved incident cannot go back to {new}; open a new incident for a recurrence"
    )


def new_incident(
    id: str,
    title: str,
    impact: Impact,
    first: IncidentUpdate,
    *,
    draft: bool = False,
    auto: bool = False,
    monitors: tuple[str, ...] = (),
    pages: tuple[str, ...] = (),
) -> Incident:
    """An incident opened with its first update (which may set component statuses)."""
    if first.status is IncidentStatus.POSTMORTEM:
        raise InvalidTransition("an incident cannot start with a postmortem")
    if not title.strip():
        raise ValueError("an incident needs a title")
    resolved = first.status is IncidentStatus.RESOLVED
    return Incident(
        id=id,
        title=title,
        status=first.status,
        impact=impact,
        started_at=first.at,
        resolved_at=first.at if resolved else None,
        draft=draft,
        auto=auto,
        components={c.code: c.new_status for c in first.affected_components},
        updates=(first,),
        monitors=monitors,
        pages=pages,
    )


def apply_update(incident: Incident, update: IncidentUpdate) -> Incident:
    """The incident after `update`: its status, component statuses and timeline.

    Raises InvalidTransition for a refused move, ValueError for an update dated before
    the incident started.
    """
    check_transition(incident.status, update.status)
    if update.at < incident.started_at:
        raise ValueError("an update cannot be dated before the incident started")
    resolved_at = incident.resolved_at
    if update.status is IncidentStatus.RESOLVED and resolved_at is None:
        resolved_at = update.at
    components = dict(incident.components)
    components.update((c.code, c.new_status) for c in update.affected_components)
    return replace(
        incident,
        status=update.status,
        resolved_at=resolved_at,
        components=components,
        updates=(*incident.updates, update),
    )


# --- automatic incidents -------------------------------------------------------------------


class AutoAction(StrEnum):
    NOTHING = "nothing"
    OPEN = "open"
    JOIN = "join"
    UPDATE = "update"  # a monitor of the incident recovered; others are still down
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class AutoDecision:
    """What a status change does to the automatic incidents; `apply_decision` applies it.

    For OPEN, `title`, `impact`, `draft` and `monitors` describe the new incident; for the
    others, `incident_id` names it and `impact`/`monitors` are its values afterwards.
    `update` is the timeline entry to post; `duration` is set when resolving.
    """

    action: AutoAction
    incident_id: str | None = None
    title: str = ""
    impact: Impact = Impact.NONE
    draft: bool = False
    monitors: tuple[str, ...] = ()
    update: IncidentUpdate | None = None
    duration: timedelta | None = None


NOTHING = AutoDecision(AutoAction.NOTHING)
_RECOVERED = frozenset((Status.UP, Status.DEGRADED))


def impact_of(facts: MonitorFacts) -> Impact:
    return Impact.MAJOR if facts.critical else Impact.MINOR


def decide(
    key: str,
    change: StatusChange,
    *,
    incidents: Sequence[Incident],
    monitors: Mapping[str, MonitorFacts],
    components: Mapping[str, Sequence[ComponentRef]],
    states: Mapping[str, MonitorState],
    mode: AutoIncidents,
) -> AutoDecision:
    """What monitor `key`'s status change does to the automatic incidents.

    `incidents` are the open incidents (others are ignored), oldest first; `monitors` the
    facts of every monitor; `components` maps each monitor to the components it backs;
    `states` the current state of every monitor (the changed one is read from `change`).
    """
    facts = monitors.get(key) or MonitorFacts(key)
    statuses = {k: s.status for k, s in states.items()}
    statuses[key] = change.status
    flapping = {k for k, s in states.items() if s.flapping and k != key}
    if change.flapping:
        flapping.add(key)
    candidates = [i for i in incidents if i.auto and i.is_open]
    mine = next((i for i in candidates if key in i.monitors), None)

    what = f"{escape(facts.label)} is down"
    reason = f": {escape(change.reason)}" if change.reason else ""
    if change.status is Status.DOWN and mine is not None:
        # Down again before the others recovered: only its components may need saying.
        affected = _component_changes(mine.monitors, mine.components, components, statuses)
        if not affected:
            return NOTHING
        update = IncidentUpdate(mine.status, f"{what} again{reason}.", change.at, affected)
        return _about(AutoAction.UPDATE, mine, update)
    if change.status is Status.DOWN:
        if AutoIncidents(mode) is AutoIncidents.OFF:
            return NOTHING
        target = _to_join(key, facts, candidates, components, statuses)
        if target is None:
            affected = _component_changes((key,), {}, components, statuses)
            update = IncidentUpdate(
                IncidentStatus.INVESTIGATING, f"{what}{reason}.", change.at, affected
            )
            return AutoDecision(
                AutoAction.OPEN,
                title=f"{facts.label} is down",
                impact=impact_of(facts),
                draft=AutoIncidents(mode) is not AutoIncidents.PUBLISH,
                monitors=(key,),
                update=update,
            )
        members = (*target.monitors, key)
        affected = _component_changes(members, target.components, components, statuses)
        update = IncidentUpdate(target.status, f"{what} too{reason}.", change.at, affected)
        impact = max(target.impact, impact_of(facts), key=_IMPACT_RANK.__getitem__)
        return _about(AutoAction.JOIN, target, update, impact=impact, monitors=members)

    if mine is None or change.status not in _RECOVERED or change.flapping:
        return NOTHING
    return _recovery(mine, key, change.at, monitors, components, statuses, flapping)


def settled_resolutions(
    incidents: Sequence[Incident],
    *,
    monitors: Mapping[str, MonitorFacts],
    components: Mapping[str, Sequence[ComponentRef]],
    states: Mapping[str, MonitorState],
    now: datetime,
) -> list[AutoDecision]:
    """RESOLVE decisions for open automatic incidents whose monitors have all recovered

    and settled: a sweep for recoveries that no status change carried (a flapping flag
    that cleared, a monitor removed from the config). Nothing else.
    """
    statuses = {k: s.status for k, s in states.items()}
    flapping = {k for k, s in states.items() if s.flapping}
    decisions = []
    for incident in incidents:
        if not (incident.auto and incident.is_open):
            continue
        if _all_recovered(incident.monitors, statuses, flapping):
            decisions.append(
                _recovery(incident, None, now, monitors, components, statuses, flapping)
            )
    return decisions


def apply_decision(
    decision: AutoDecision, incident: Incident | None, new_id: str = ""
) -> Incident | None:
    """The incident after `decision`: a new one (OPEN, with id `new_id`), the given one

    updated, or None for NOTHING. Raises ValueError when `incident` is missing or is not
    the one the decision is about.
    """
    if decision.action is AutoAction.NOTHING or decision.update is None:
        return None
    if decision.action is AutoAction.OPEN:
        if not new_id:
            raise ValueError("opening an incident needs its new id")
        return new_incident(
            new_id,
            decision.title,
            decision.impact,
            decision.update,
            draft=decision.draft,
            auto=True,
            monitors=decision.monitors,
        )
    if incident is None or incident.id != decision.incident_id:
        raise ValueError(f"the decision is about incident {decision.incident_id}")
    joined = replace(incident, impact=decision.impact, monitors=decision.monitors)
    return apply_update(joined, decision.update)


def _to_join(
    key: str,
    facts: MonitorFacts,
    candidates: Sequence[Incident],
    components: Mapping[str, Sequence[ComponentRef]],
    statuses: Mapping[str, Status],
) -> Incident | None:
    """The parent's incident, else one of a monitor sharing a component; oldest first."""
    parents = down_parents(facts, statuses)
    for incident in candidates:
        if any(parent in incident.monitors for parent in parents):
            return incident
    mine = {c.code for c in components.get(key, ())}
    if not mine:
        return None
    for incident in candidates:
        for member in incident.monitors:
            if mine.intersection(c.code for c in components.get(member, ())):
                return incident
    return None


def _recovery(
    incident: Incident,
    key: str | None,
    at: datetime,
    monitors: Mapping[str, MonitorFacts],
    components: Mapping[str, Sequence[ComponentRef]],
    statuses: Mapping[str, Status],
    flapping: set[str],
) -> AutoDecision:
    """UPDATE when `key` recovered but others in the incident have not, else RESOLVE."""
    if key is not None and not _all_recovered(incident.monitors, statuses, flapping):
        name = escape(_label(key, monitors))
        affected = _component_changes(incident.monitors, incident.components, components, statuses)
        update = IncidentUpdate(incident.status, f"{name} has recovered.", at, affected)
        return _about(AutoAction.UPDATE, incident, update)
    duration = at - incident.started_at
    names = {c.code: c.name for refs in components.values() for c in refs}
    affected = tuple(
        AffectedComponent(code, names.get(code, code), old, ComponentStatus.OPERATIONAL)
        for code, old in incident.components.items()
        if old is not ComponentStatus.OPERATIONAL
    )
    who = ", ".join(escape(_label(m, monitors)) for m in incident.monitors) or "everything"
    body = f"Resolved: {who} recovered after {format_duration(duration.total_seconds())}."
    update = IncidentUpdate(IncidentStatus.RESOLVED, body, at, affected)
    return _about(AutoAction.RESOLVE, incident, update, duration=duration)


def _about(
    action: AutoAction,
    incident: Incident,
    update: IncidentUpdate,
    *,
    impact: Impact | None = None,
    monitors: tuple[str, ...] | None = None,
    duration: timedelta | None = None,
) -> AutoDecision:
    return AutoDecision(
        action,
        incident_id=incident.id,
        title=incident.title,
        impact=impact if impact is not None else incident.impact,
        draft=incident.draft,
        monitors=monitors if monitors is not None else incident.monitors,
        update=update,
        duration=duration,
    )


def _label(key: str, monitors: Mapping[str, MonitorFacts]) -> str:
    facts = monitors.get(key)
    return facts.label if facts is not None else key


def _all_recovered(
    members: Iterable[str], statuses: Mapping[str, Status], flapping: set[str]
) -> bool:
    """Every member UP or DEGRADED and settled; members no longer known (deleted) aside."""
    return all(
        m not in statuses or (statuses[m] in _RECOVERED and m not in flapping) for m in members
    )


def _component_changes(
    members: Sequence[str],
    current: Mapping[str, ComponentStatus],
    components: Mapping[str, Sequence[ComponentRef]],
    statuses: Mapping[str, Status],
) -> tuple[AffectedComponent, ...]:
    """The components the members back whose status changes, with old and new status."""
    backers: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for monitor, refs in components.items():
        for ref in refs:
            backers.setdefault(ref.code, []).append(monitor)
            names[ref.code] = ref.name
    touched = dict.fromkeys(ref.code for m in members for ref in components.get(m, ()))
    changes = []
    for code in touched:
        down = sum(statuses.get(m) is Status.DOWN for m in backers[code])
        if down == len(backers[code]):
            new = ComponentStatus.MAJOR_OUTAGE
        elif down:
            new = ComponentStatus.PARTIAL_OUTAGE
        else:
            new = ComponentStatus.OPERATIONAL
        old = current.get(code, ComponentStatus.OPERATIONAL)
        if new is not old:
            changes.append(AffectedComponent(code, names[code], old, new))
    return tuple(changes)
