"""What each event does to a monitor: a probe's observation, a ping, a child's change.

Each function takes the monitor's current state and returns an Outcome: the new state,
the status-change rows (only when the visible status changed) and the raw row to store.
The observation path runs once per probe, so it does only what every check needs (after
services.checks.run_check has probed and judged): one evaluator round, one result row.
The state's JSON is built later by the writer, once per flush, for each monitor's newest
state only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from upstate.domain import push as push_rules
from upstate.domain.composite import composite_status
from upstate.domain.enums import Status
from upstate.domain.frozen import quick_init
from upstate.domain.observation import StatuspageFacts
from upstate.domain.push import PushState
from upstate.domain.status import (
    MonitorState,
    RegionResult,
    Transition,
    next_status,
    set_maintenance,
)
from upstate.services.checks import CheckResult
from upstate.services.runtime import COMPOSITE_REGION, PUSH_REGION, RuntimeMonitor
from upstate.store.changes import StatusChange as ChangeRow
from upstate.store.pings import Ping, PingKind
from upstate.store.results import ResultRow

__all__ = [
    "ChangeRow",
    "Outcome",
    "Ping",
    "PingKind",
    "ResultRow",
    "composite_outcome",
    "evaluate",
    "outcome_of",
    "ping_outcome",
]

_VERDICTS = (Status.UP, Status.DEGRADED, Status.DOWN)
STATUSPAGE_FACTS = "$statuspage"  # where a statuspage result's facts ride in `extracted`


@quick_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event (a result, a ping, a timer) changed for one monitor."""

    monitor_id: int
    state: MonitorState
    changes: tuple[ChangeRow, ...] = ()
    row: ResultRow | None = None  # the raw result, when a probe ran
    checked_at: datetime | None = None  # when the monitor was last checked, for the state row
    push: PushState | None = None  # a push monitor's ping memory, stored with its state


def evaluate(
    monitor: RuntimeMonitor, previous: MonitorState, checked: CheckResult, now: datetime
) -> Outcome:
    """One evaluator round for a probed monitor's judged observation."""
    observation, verdict = checked.observation, checked.verdict
    status, region, at = verdict.status, observation.region, observation.started_at
    transition = next_status(
        previous, RegionResult(region, status, at, verdict.reason), monitor.policy, now
    )
    extracted: Mapping[str, object] = verdict.extracted
    page = observation.statuspage
    if page is not None:  # the board's upstream cards read these ("$" is no extract name)
        extracted = {**extracted, STATUSPAGE_FACTS: _statuspage_facts(page)}
    monitor_id = monitor.id
    row = ResultRow.from_observation(monitor_id, observation, status, extracted or None)
    # outcome_of, written out for the usual round that changes nothing visible.
    if transition.change is None:
        return Outcome(monitor_id, transition.state, (), row, at)
    return outcome_of(monitor_id, transition, region=region, row=row, checked_at=at)


def _statuspage_facts(page: StatuspageFacts) -> dict[str, object]:
    return {
        "indicator": page.indicator,
        "description": page.description,
        "components": [{"name": c.name, "status": c.status.value} for c in page.components],
        "incidents": [
            {"name": i.name, "status": i.status, "impact": i.impact} for i in page.incidents
        ],
    }


def ping_outcome(
    monitor: RuntimeMonitor,
    previous: MonitorState,
    memory: PushState,
    kind: PingKind,
    at: datetime,
    exit_status: int | None,
    now: datetime,
) -> tuple[Outcome, float | None]:
    """A push monitor's ping: its new memory and status, and the run's duration (ms) when
    this ping completed a run that began with /start. Raises ValueError for a bad ping."""
    pinged = push_rules.record_ping(memory, kind.value, at, exit_status)
    completed = pinged.state is not memory and kind is not PingKind.START
    duration = pinged.state.last_duration_ms if completed else None
    if pinged.status is None:
        return Outcome(monitor.id, previous, push=pinged.state), duration
    transition = next_status(
        previous, RegionResult(PUSH_REGION, pinged.status, at, pinged.reason), monitor.policy, now
    )
    outcome = outcome_of(monitor.id, transition, region=PUSH_REGION, checked_at=at)
    return _with_push(outcome, pinged.state), duration


def composite_outcome(
    monitor: RuntimeMonitor,
    previous: MonitorState,
    children: Mapping[str, Status],
    now: datetime,
) -> Outcome | None:
    """A composite re-judged from its children's statuses; None when nothing changed."""
    status, reason = composite_status(children, monitor.at_least)
    transitions: list[Transition] = []
    state = previous
    # The verdict first: during maintenance it moves the underlying status quietly, so
    # ending maintenance then writes one change, straight to where the children are.
    if status in _VERDICTS and not _already(state, status, reason):
        region = RegionResult(COMPOSITE_REGION, status, now, reason)
        transitions.append(next_status(state, region, monitor.policy, now))
        state = transitions[-1].state
    if (status is Status.MAINTENANCE) != state.in_maintenance:
        transitions.append(set_maintenance(state, status is Status.MAINTENANCE, now))
        state = transitions[-1].state
    if state is previous:
        return None
    changes = tuple(
        _change_row(monitor.id, t, COMPOSITE_REGION) for t in transitions if t.change is not None
    )
    return Outcome(monitor.id, state, tuple(c for c in changes if c is not None))


def _already(state: MonitorState, status: Status, reason: str) -> bool:
    """The composite said exactly this last time: another round would only count up."""
    return (
        len(state.regions) == 1
        and state.regions[0].status is status
        and state.regions[0].reason == reason
        and state.underlying is status
    )


def outcome_of(
    monitor_id: int,
    transition: Transition,
    *,
    region: str | None = None,
    row: ResultRow | None = None,
    checked_at: datetime | None = None,
) -> Outcome:
    """An Outcome for any evaluator transition (a result, expiry, lateness, pause)."""
    change = _change_row(monitor_id, transition, region)
    changes = (change,) if change is not None else ()
    return Outcome(monitor_id, transition.state, changes, row, checked_at)


def _change_row(monitor_id: int, transition: Transition, region: str | None) -> ChangeRow | None:
    change = transition.change
    if change is None:
        return None
    return ChangeRow(
        monitor_id=monitor_id,
        previous=change.previous,
        status=change.status,
        at=change.at,
        reason=change.reason,
        flapping=change.flapping,
        region=region,
    )


def _with_push(outcome: Outcome, memory: PushState) -> Outcome:
    return Outcome(
        outcome.monitor_id, outcome.state, outcome.changes, outcome.row, outcome.checked_at, memory
    )
