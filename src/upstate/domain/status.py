"""A monitor's current status: one pure state machine fed by per-result verdicts.

Conditions judge each Observation into a verdict (UP, DEGRADED or DOWN); this module
turns the stream of verdicts from one or more regions into the status people see, and
returns a StatusChange whenever that visible status changes (the row that feeds
notifications and uptime maths, like healthchecks' Flip). Time is an argument.

Decisions, in the order a result meets them:

- **Rounds.** Every new result is a round. Its outcome is a quorum over the *fresh*
  regions (a region's latest result counts while younger than 2 intervals; the new result
  always counts): *failing* when at least `quorum` of them say DOWN, else *degraded* when
  at least `quorum` of them say DEGRADED or DOWN, else *good*. One region: its result.
  A lone slow or failing region out of three therefore does not change the status.
- **A round counts only when the new result agrees with it.** The round's tally still
  holds other regions' older votes; if the new result disagrees (an UP from us-east while
  eu-west's last DOWN keeps a 1-of-2 quorum failing), counting it would let one old
  failure be counted again by every other region's report. Such a round leaves the
  counters as they were. With one region every round counts.
- **Thresholds, in the habit of Gatus.** UP or DEGRADED become DOWN after
  `failure_threshold` consecutive failing rounds; DOWN recovers after `success_threshold`
  consecutive non-failing rounds, to UP or DEGRADED as that round says; a failing round
  resets the recovery count. Degraded is not an outage, but a status change all the same,
  so it is damped the same way: UP becomes DEGRADED after `failure_threshold` consecutive
  rounds that are degraded or failing, DEGRADED becomes UP after `success_threshold`
  good rounds. (Slow endpoints hovering at a response-time limit would otherwise write a
  change row on every check.) Passing through DEGRADED does not restart the count
  towards DOWN.
- **UNKNOWN decides at once.** A new monitor (or one just resumed, or one whose regions
  all went stale) takes the first round's outcome without waiting for a threshold, as
  Gatus and Uptime Kuma show the first result. The change says `previous=UNKNOWN`, so a
  notifier can choose not to page for a monitor's first verdict.
- **Expiry can end trouble, never start it.** `expire_regions` drops regions older
  than 2 intervals. If none remain the status becomes UNKNOWN (the checker stopped; the
  target is not known to be down). If the regions left no longer make a failing (or
  degraded) quorum, DOWN (or DEGRADED) ends at once; expiry never starts an outage.
- **Paused** shows PAUSED and ignores results; resuming shows UNKNOWN until the next
  round decides. **Maintenance** shows MAINTENANCE while results keep updating the
  `underlying` status, so the real status shows the moment the window ends. Underlying
  changes during maintenance write no StatusChange (the visible status did not change),
  so nothing is notified; ending maintenance writes MAINTENANCE -> underlying.
- **Flapping.** Changes driven by results (not pause or maintenance) are counted in the
  last `flap_window_s`; more than `flap_changes` sets `flapping`, which clears once the
  window holds at most `flap_changes // 2` (hysteresis, so the flag itself does not
  flap). The flag is advisory: statuses still change, each StatusChange carries it, and
  the notifier decides what to mute. It can clear on a round without a status change;
  compare `previous.flapping` with `state.flapping` to see that.
- Results older than the stored result of the same region (late delivery) are ignored.

Everything is cheap: a round touches one tuple of at most #regions entries and builds a
reason string only when the status changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from upstate.domain.durations import format_duration
from upstate.domain.enums import Status
from upstate.domain.frozen import quick_init

# Reading an enum member goes through its class (~4 times the cost of reading a global on
# Python 3.11), so the hot path compares identities with module constants instead.
_UP, _DEGRADED, _DOWN = Status.UP, Status.DEGRADED, Status.DOWN
_UNKNOWN, _PAUSED, _MAINTENANCE = Status.UNKNOWN, Status.PAUSED, Status.MAINTENANCE
_DECIDED = frozenset((_UP, _DEGRADED, _DOWN))  # what a result may say
_EPSILON = 1e-9  # so that 1 of 3 meets quorum=1/3 despite rounding


@dataclass(frozen=True, slots=True)
class Policy:
    """How one monitor turns verdicts into a status. Built once per monitor from its config.

    `regions` is where the monitor is meant to run; it is carried for the scheduler. The
    evaluator takes the regions from the results themselves, so a result is never dropped
    for coming from a region a caller forgot to list.
    """

    failure_threshold: int = 2  # consecutive failing rounds before DOWN
    success_threshold: int = 1  # consecutive non-failing rounds before DOWN ends
    interval_s: float = 60.0
    regions: tuple[str, ...] = ("local",)
    quorum: float = 0.5  # down when >= quorum (fraction of fresh regions) say down
    flap_changes: int = 5  # more than this many changes ...
    flap_window_s: float = 1800.0  # ... within this window flags the monitor as flapping
    # Derived once, not per result: a region's latest result counts for `fresh_for`.
    fresh_for: timedelta = field(init=False, repr=False, compare=False)
    flap_window: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.success_threshold < 1:
            raise ValueError("failure_threshold and success_threshold must be at least 1")
        if not self.interval_s > 0:
            raise ValueError(f"interval must be positive, not {self.interval_s}")
        if not 0 < self.quorum <= 1:
            raise ValueError(f"quorum must be a fraction in (0, 1], not {self.quorum}")
        if self.flap_changes < 1 or not self.flap_window_s > 0:
            raise ValueError("flap_changes must be at least 1 and flap_window positive")
        object.__setattr__(self, "fresh_for", timedelta(seconds=2 * self.interval_s))
        object.__setattr__(self, "flap_window", timedelta(seconds=self.flap_window_s))


@quick_init
@dataclass(frozen=True, slots=True)
class RegionResult:
    """One region's verdict on one check: UP, DEGRADED or DOWN."""

    region: str
    status: Status
    at: datetime
    reason: str = ""


@quick_init
@dataclass(frozen=True, slots=True)
class MonitorState:
    """What is stored between results (a JSON column: see to_dict/from_dict).

    `status` is what people see: PAUSED, else MAINTENANCE, else `underlying`, the status
    the results decide. `since` is when the visible status began; `reason` explains the
    latest change of the underlying status.
    """

    status: Status = Status.UNKNOWN
    since: datetime | None = None
    failures: int = 0  # consecutive failing rounds
    successes: int = 0  # consecutive non-failing rounds (what recovery from DOWN counts)
    regions: tuple[RegionResult, ...] = ()  # latest result per region
    changes: tuple[datetime, ...] = ()  # recent change times (within the flap window, bounded)
    flapping: bool = False
    paused: bool = False
    in_maintenance: bool = False
    underlying: Status = Status.UNKNOWN
    unhealthy: int = 0  # consecutive degraded-or-failing rounds (UP -> DEGRADED)
    healthy: int = 0  # consecutive good rounds (DEGRADED -> UP)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: enums as their values, datetimes as ISO 8601."""
        # `_value_`, not `value`: the property runs Python code, and the writer calls this
        # for every monitor that was checked since its last flush.
        return {
            "status": self.status._value_,
            "underlying": self.underlying._value_,
            "since": self.since.isoformat() if self.since is not None else None,
            "reason": self.reason,
            "failures": self.failures,
            "successes": self.successes,
            "unhealthy": self.unhealthy,
            "healthy": self.healthy,
            "regions": [
                {
                    "region": r.region,
                    "status": r.status._value_,
                    "at": r.at.isoformat(),
                    "reason": r.reason,
                }
                for r in self.regions
            ],
            "changes": list(map(datetime.isoformat, self.changes)),
            "flapping": self.flapping,
            "paused": self.paused,
            "in_maintenance": self.in_maintenance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorState:
        """The inverse of to_dict; missing keys take their defaults (rows older than a field)."""
        since = data.get("since")
        regions = tuple(_region_from_dict(item) for item in data.get("regions") or ())
        underlying = Status(data.get("underlying", _UNKNOWN))
        if underlying is not _UNKNOWN and underlying not in _DECIDED:
            raise ValueError(f"underlying status must be decided by results, not {underlying}")
        return cls(
            status=Status(data.get("status", _UNKNOWN)),
            since=datetime.fromisoformat(since) if since else None,
            failures=int(data.get("failures", 0)),
            successes=int(data.get("successes", 0)),
            regions=regions,
            changes=tuple(datetime.fromisoformat(at) for at in data.get("changes") or ()),
            flapping=bool(data.get("flapping", False)),
            paused=bool(data.get("paused", False)),
            in_maintenance=bool(data.get("in_maintenance", False)),
            underlying=underlying,
            unhealthy=int(data.get("unhealthy", 0)),
            healthy=int(data.get("healthy", 0)),
            reason=str(data.get("reason", "")),
        )


def _region_from_dict(item: Mapping[str, Any]) -> RegionResult:
    status = Status(item["status"])
    if status not in _DECIDED:
        raise ValueError(f"a region's result must be up, degraded or down, not {status}")
    return RegionResult(
        region=str(item["region"]),
        status=status,
        at=datetime.fromisoformat(item["at"]),
        reason=str(item.get("reason", "")),
    )


@quick_init
@dataclass(frozen=True, slots=True)
class StatusChange:
    """One change of the visible status: the row behind notifications and uptime maths."""

    previous: Status
    status: Status
    at: datetime
    reason: str
    flapping: bool


@quick_init
@dataclass(frozen=True, slots=True)
class Transition:
    state: MonitorState
    change: StatusChange | None  # None when the visible status did not change


def next_status(
    previous: MonitorState, result: RegionResult, policy: Policy, now: datetime
) -> Transition:
    """The state after one region's verdict. Raises ValueError for a non-verdict status."""
    if previous.paused:
        return Transition(previous, None)
    vote = result.status
    if vote is not _UP and vote is not _DEGRADED and vote is not _DOWN:
        raise ValueError(f"a result's status must be up, degraded or down, not {vote}")

    regions = previous.regions
    kept: Sequence[RegionResult]
    if len(regions) == 1 and regions[0].region == result.region:
        # The usual round: the only region reports again, so it is the only fresh one.
        if result.at < regions[0].at:
            return Transition(previous, None)  # delivered late: a newer one is in
        kept = (result,)
        bad = 0 if vote is _UP else 1
        down = 1 if vote is _DOWN else 0
    else:
        fresh = _fresh(regions, result, now - policy.fresh_for)
        if fresh is None:
            return Transition(previous, None)  # delivered late: a newer one is in
        kept, down, bad = fresh
    outcome = _outcome(down, bad, len(kept), policy.quorum)

    failures, successes = previous.failures, previous.successes
    if (outcome is _DOWN) == (vote is _DOWN):
        if outcome is _DOWN:
            failures, successes = failures + 1, 0
        else:
            failures, successes = 0, successes + 1
    unhealthy, healthy = previous.unhealthy, previous.healthy
    if (outcome is not _UP) == (vote is not _UP):
        if outcome is _UP:
            unhealthy, healthy = 0, healthy + 1
        else:
            unhealthy, healthy = unhealthy + 1, 0

    old = previous.underlying
    new = _decide(old, outcome, failures, successes, unhealthy, healthy, policy)
    reason = previous.reason
    if new is not old:
        failures, successes, unhealthy, healthy = _settle(
            old, new, failures, successes, unhealthy, healthy
        )
        reason = _round_reason(old, new, kept, result, failures, down, bad)
    return _finish(
        previous, new, reason, tuple(kept), failures, successes, unhealthy, healthy, policy, now
    )


def push_late(previous: MonitorState, policy: Policy, now: datetime, reason: str) -> Transition:
    """A push (heartbeat) monitor missed its deadline: one failing round, thresholds apply.

    The last ping no longer vouches for the target, so the stored regions are cleared.
    The grace period already damps push monitors; give them failure_threshold=1 to go
    DOWN on the first missed deadline, as healthchecks does. Call it once per missed
    deadline, and not before the first ping if a new check should wait (it would decide
    DOWN at once from UNKNOWN).
    """
    if previous.paused:
        return Transition(previous, None)
    failures, successes = previous.failures + 1, 0
    unhealthy, healthy = previous.unhealthy + 1, 0
    old = previous.underlying
    new = _decide(old, _DOWN, failures, successes, unhealthy, healthy, policy)
    new_reason = previous.reason
    if new is not old:
        failures, successes, unhealthy, healthy = _settle(
            old, new, failures, successes, unhealthy, healthy
        )
        new_reason = reason
    return _finish(
        previous, new, new_reason, (), failures, successes, unhealthy, healthy, policy, now
    )


def expire_regions(previous: MonitorState, policy: Policy, now: datetime) -> Transition:
    """Drop results older than 2 intervals; called on a timer, between results.

    Losing evidence can end trouble but never start it: with no region left the status
    becomes UNKNOWN; when the regions left no longer make a failing quorum, DOWN ends at
    once (DEGRADED likewise). Also lets the flapping flag clear on a monitor that stopped
    reporting. Push monitors go late through push_late instead.
    """
    if previous.paused:
        return Transition(previous, None)
    stale_before = now - policy.fresh_for
    kept = tuple(region for region in previous.regions if region.at > stale_before)
    if len(kept) == len(previous.regions):  # nothing expired; the flap window may have moved
        changes, flapping = _flap(previous.changes, previous.flapping, policy, now, False)
        if flapping == previous.flapping:
            return Transition(previous, None)
        return Transition(replace(previous, changes=changes, flapping=flapping), None)
    old = new = previous.underlying
    reason = previous.reason
    if not kept:
        if old is not _UNKNOWN:
            new = _UNKNOWN
            reason = f"no results for {format_duration(2 * policy.interval_s)}"
    else:
        down = sum(r.status is _DOWN for r in kept)
        bad = sum(r.status is not _UP for r in kept)
        outcome = _outcome(down, bad, len(kept), policy.quorum)
        if (old is _DOWN and outcome is not _DOWN) or (old is _DEGRADED and outcome is _UP):
            new = outcome
            stale = _names(r for r in previous.regions if r.at <= stale_before)
            fresh = f"{len(kept)} fresh region{'s' if len(kept) > 1 else ''}"
            reason = f"{stale} went stale; {fresh}: {new.value}"
    failures, successes = previous.failures, previous.successes
    unhealthy, healthy = previous.unhealthy, previous.healthy
    if new is not old:
        failures, successes, unhealthy, healthy = _settle(
            old, new, failures, successes, unhealthy, healthy
        )
    return _finish(
        previous, new, reason, kept, failures, successes, unhealthy, healthy, policy, now
    )


def set_paused(previous: MonitorState, paused: bool, now: datetime) -> Transition:
    """Pause (show PAUSED, ignore results) or resume (UNKNOWN until the next round decides).

    Pausing forgets regions, counters and flapping: a resumed monitor starts afresh.
    """
    if previous.paused == paused:
        return Transition(previous, None)
    if paused:
        state = MonitorState(
            status=_PAUSED,
            since=now,
            paused=True,
            in_maintenance=previous.in_maintenance,
            reason="paused",
        )
        reason = "paused"
    else:
        state = MonitorState(
            status=_MAINTENANCE if previous.in_maintenance else _UNKNOWN,
            since=now,
            in_maintenance=previous.in_maintenance,
        )
        reason = "resumed"
    return Transition(state, StatusChange(previous.status, state.status, now, reason, False))


def set_maintenance(previous: MonitorState, active: bool, now: datetime) -> Transition:
    """Start or end a maintenance window; ending it shows the underlying status at once."""
    if previous.in_maintenance == active:
        return Transition(previous, None)
    status = _visible(previous.paused, active, previous.underlying)
    if status is previous.status:
        return Transition(replace(previous, in_maintenance=active), None)
    if active:
        reason = "maintenance started"
    else:
        reason = f"maintenance ended: {previous.reason}" if previous.reason else "maintenance ended"
    state = replace(previous, in_maintenance=active, status=status, since=now)
    return Transition(state, StatusChange(previous.status, status, now, reason, state.flapping))


# --- the machinery -------------------------------------------------------------------------


def _fresh(
    regions: tuple[RegionResult, ...], result: RegionResult, stale_before: datetime
) -> tuple[list[RegionResult], int, int] | None:
    """The fresh regions with `result` in place, counting those DOWN and those not UP as
    they are copied; None when its region already holds a newer result."""
    kept: list[RegionResult] = []
    down = bad = 0
    placed = False
    for region in regions:
        if region.region == result.region:
            if result.at < region.at:
                return None
            region = result
            placed = True
        elif region.at <= stale_before:
            continue
        kept.append(region)
        if region.status is not _UP:
            bad += 1
            if region.status is _DOWN:
                down += 1
    if not placed:
        kept.append(result)
        if result.status is not _UP:
            bad += 1
            if result.status is _DOWN:
                down += 1
    return kept, down, bad


def _outcome(down: int, bad: int, fresh: int, quorum: float) -> Status:
    """A round's outcome: DOWN (failing), DEGRADED or UP (good)."""
    needed = quorum * fresh - _EPSILON
    if down >= needed:
        return _DOWN
    if bad >= needed:
        return _DEGRADED
    return _UP


def _decide(
    old: Status,
    outcome: Status,
    failures: int,
    successes: int,
    unhealthy: int,
    healthy: int,
    policy: Policy,
) -> Status:
    if old is _UNKNOWN:
        return outcome
    if old is _DOWN:
        if outcome is not _DOWN and successes >= policy.success_threshold:
            return outcome
        return _DOWN
    if failures >= policy.failure_threshold:
        return _DOWN
    if old is _UP:
        return _DEGRADED if unhealthy >= policy.failure_threshold else _UP
    return _UP if healthy >= policy.success_threshold else _DEGRADED


def _settle(
    old: Status, new: Status, failures: int, successes: int, unhealthy: int, healthy: int
) -> tuple[int, int, int, int]:
    """Counters on entering `new`: each counts only towards the next possible transition.

    Keeps the invariants the decisions rely on (UP has fewer than failure_threshold
    unhealthy rounds, DOWN fewer than success_threshold successes, ...) when a status
    is entered by a way that did not reset them: from UNKNOWN, DOWN or by expiry.
    """
    if new is _UNKNOWN:
        return 0, 0, 0, 0
    if new is _DOWN:
        return failures, 0, unhealthy, healthy
    if old is _DOWN:
        failures = 0
    if new is _UP:
        return failures, successes, 0, healthy
    return failures, successes, unhealthy, 0


def _visible(paused: bool, in_maintenance: bool, underlying: Status) -> Status:
    if paused:
        return _PAUSED
    if in_maintenance:
        return _MAINTENANCE
    return underlying


def _finish(
    previous: MonitorState,
    underlying: Status,
    reason: str,
    regions: tuple[RegionResult, ...],
    failures: int,
    successes: int,
    unhealthy: int,
    healthy: int,
    policy: Policy,
    now: datetime,
) -> Transition:
    """The new state and its change, counting result-driven changes for flapping."""
    paused, in_maintenance = previous.paused, previous.in_maintenance
    # _visible, inline: this runs once per result.
    status = _PAUSED if paused else _MAINTENANCE if in_maintenance else underlying
    changed = status is not previous.status
    changes, flapping = _flap(previous.changes, previous.flapping, policy, now, changed)
    # Positional, in field order: half the cost of keywords, once per result.
    state = MonitorState(
        status,
        now if changed else previous.since,
        failures,
        successes,
        regions,
        changes,
        flapping,
        paused,
        in_maintenance,
        underlying,
        unhealthy,
        healthy,
        reason,
    )
    change = StatusChange(previous.status, status, now, reason, flapping) if changed else None
    return Transition(state, change)


def _flap(
    changes: tuple[datetime, ...], flapping: bool, policy: Policy, now: datetime, changed: bool
) -> tuple[tuple[datetime, ...], bool]:
    """Recent change times (at most flap_changes + 1, all inside the window) and the flag."""
    if not changes and not changed:
        return (), False
    window_start = now - policy.flap_window
    if changes and changes[0] <= window_start:
        changes = tuple(at for at in changes if at > window_start)
    if changed:
        changes = (*changes, now)[-(policy.flap_changes + 1) :]
        if len(changes) > policy.flap_changes:
            flapping = True
    if flapping and len(changes) <= policy.flap_changes // 2:
        flapping = False
    return changes, flapping


# --- reasons: short sentences for people, built only when the status changes ---------------


def _round_reason(
    old: Status,
    new: Status,
    regions: Sequence[RegionResult],
    result: RegionResult,
    failures: int,
    down: int,
    bad: int,
) -> str:
    several = len(regions) > 1
    if new is _DOWN:
        if several:
            names = _names(r for r in regions if r.status is _DOWN)
            text = f"{down} of {len(regions)} regions down ({names})"
            own = result.reason if result.status is _DOWN else ""
            return f"{text}: {own}" if own else text
        why = result.reason or "check failed"
        return f"{failures} consecutive failures: {why}" if failures > 1 else why
    if new is _DEGRADED:
        if several:
            names = _names(r for r in regions if r.status is not _UP)
            what = "degraded" if down == 0 else "degraded or down"
            return f"{bad} of {len(regions)} regions {what} ({names})"
        return result.reason or "degraded"
    if old is _UNKNOWN:
        return "up"
    return "recovered" if old is _DOWN else "no longer degraded"


def _names(regions: Iterable[RegionResult]) -> str:
    return ", ".join(sorted(r.region for r in regions))
