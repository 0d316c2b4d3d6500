"""Which channels hear about a monitor, and what they are told: pure routing decisions.

The notifier asks two questions. `route` is asked at every StatusChange, `reminders_due`
every few seconds for every monitor; each answers with the alerts to write to the outbox
(one per channel). The caller writes them, and remembers the last alert it wrote for the
monitor (`LastNotice`), in the same transaction; that memory is what makes both answers
idempotent: asking twice, or again after a restart, repeats nothing.

Decisions:

- **Routes.** First match wins. A route matches when every criterion it gives holds:
  `monitors` lists the key, `tags` shares at least one tag with the monitor, `kinds`
  lists its kind, `critical` equals its flag. A route without criteria catches all. When
  none matches, the `default` route is used (the caller passes every channel as the
  default when the config has no routes at all, and None when it has some: then an
  unmatched monitor is deliberately silent). Routes are read through the `RouteLike`
  protocol, which `config.notifications.Route` satisfies as it is.
- **Say what changed in the reader's picture, once.** The alert follows from the
  monitor's current status and flapping flag compared with the last alert written:
  DOWN is sent unless the last alert already said down; DEGRADED unless it said
  degraded; UP (the recovery notice) only when the last alert said something was wrong,
  so nobody hears "recovered" about an outage they never heard of, and a new monitor's
  first UP says nothing. A new monitor that is down at once does alert.
- **Not a verdict, not an alert.** UNKNOWN (no fresh results), PAUSED and MAINTENANCE say
  nothing; a monitor inside a maintenance window says nothing at all (`in_maintenance`),
  which is how maintenance suppresses alerts. When the window ends, whatever the monitor
  is then is compared with the last alert as usual.
- **Dependencies.** While a monitor's `depends_on` parent is DOWN (`parents_down`), its
  DOWN, DEGRADED and flapping alerts are held back: the parent's own alert is the one
  people need. Recovery notices still go out (the outage was announced, so is its end).
  Only direct parents count, and only when DOWN: a grandparent is reached through the
  parent, which is down too if it really depends on it. When the parent recovers and the
  child is still down, the next `reminders_due` sends the child's DOWN alert it had held.
  A child whose threshold trips before its parent's alerts before the parent is down:
  nothing pure can know the parent is about to go down.
- **Flapping.** While the StatusChange (or state) says `flapping`, one FLAPPING alert,
  then silence, whatever the status does. When the flag clears, the status it settled
  on is compared with the last alert (FLAPPING), so one UP, DOWN or DEGRADED follows.
  The flag may clear without a status change; `reminders_due` notices that, or pass
  `settled(state, now)` to `route`.
- **Reminders.** While a monitor stays DOWN (not flapping, not in maintenance, no parent
  down) and its route has `remind_every`, a REMINDER is due once that long has passed
  since the last DOWN or REMINDER alert. Degraded monitors are not reminded about.

Event kinds are the webhook event names where the issue names them (`monitor.down`,
`monitor.degraded`, `monitor.up`); a reminder is `monitor.reminder` and the flapping
notice `monitor.flapping`, for channels to show as they see fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple, Protocol

from upstate.domain.enums import MonitorKind, Status
from upstate.domain.status import MonitorState, StatusChange


class AlertKind(StrEnum):
    DOWN = "monitor.down"
    DEGRADED = "monitor.degraded"
    UP = "monitor.up"
    REMINDER = "monitor.reminder"
    FLAPPING = "monitor.flapping"


_SAID_DOWN = frozenset((AlertKind.DOWN, AlertKind.REMINDER))


class Alert(NamedTuple):
    """One alert for one channel: a row for the outbox."""

    channel: str
    kind: AlertKind


@dataclass(frozen=True, slots=True)
class LastNotice:
    """The last alert written for a monitor (to any channel), kept by the caller."""

    kind: AlertKind
    at: datetime


@dataclass(frozen=True, slots=True)
class MonitorFacts:
    """What routing and incidents need to know about a monitor, from its config."""

    key: str
    name: str = ""
    kind: MonitorKind = MonitorKind.HTTP
    tags: tuple[str, ...] = ()
    critical: bool = False
    depends_on: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name or self.key


class RouteMatchLike(Protocol):
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def monitors(self) -> Sequence[str]: ...
    @property
    def kinds(self) -> Sequence[MonitorKind]: ...
    @property
    def critical(self) -> bool | None: ...


class RouteLike(Protocol):
    """A route as config.notifications.Route has it; `remind_every` is in seconds."""

    @property
    def match(self) -> RouteMatchLike | None: ...
    @property
    def channels(self) -> Sequence[str]: ...
    @property
    def remind_every(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A RouteMatchLike built in code (tests, the default route)."""

    tags: tuple[str, ...] = ()
    monitors: tuple[str, ...] = ()
    kinds: tuple[MonitorKind, ...] = ()
    critical: bool | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """A RouteLike built in code, e.g. the default route over every channel."""

    channels: tuple[str, ...]
    match: RouteMatch | None = None
    remind_every: float | None = None


def matches(match: RouteMatchLike | None, facts: MonitorFacts) -> bool:
    """Whether every criterion `match` gives holds for the monitor."""
    if match is None:
        return True
    if match.monitors and facts.key not in match.monitors:
        return False
    if match.tags and not set(match.tags).intersection(facts.tags):
        return False
    if match.kinds and facts.kind not in match.kinds:
        return False
    return match.critical is None or match.critical == facts.critical


def match_route(
    facts: MonitorFacts, routes: Sequence[RouteLike], default: RouteLike | None = None
) -> RouteLike | None:
    """The first route that matches the monitor, else `default`."""
    for candidate in routes:
        if matches(candidate.match, facts):
            return candidate
    return default


def down_parents(facts: MonitorFacts, statuses: Mapping[str, Status]) -> tuple[str, ...]:
    """The monitor's direct `depends_on` parents that are DOWN, in the order listed."""
    return tuple(key for key in facts.depends_on if statuses.get(key) is Status.DOWN)


def settled(state: MonitorState, now: datetime) -> StatusChange:
    """A StatusChange that changes nothing, to ask `route` (or incidents) about `state`

    as it is now: used when the flapping flag clears without a change of status.
    """
    return StatusChange(state.status, state.status, now, "settled", state.flapping)


def route(
    change: StatusChange,
    facts: MonitorFacts,
    routes: Sequence[RouteLike],
    *,
    parents_down: bool,
    last_notice: LastNotice | None,
    in_maintenance: bool = False,
    default: RouteLike | None = None,
) -> list[Alert]:
    """The alerts a status change calls for: one per channel of the monitor's route.

    Write them, then remember `LastNotice(kind, change.at)` when the list is not empty.
    """
    kind = _owed(change.status, change.flapping, parents_down, last_notice, in_maintenance)
    return _alerts(kind, facts, routes, default)


def reminders_due(
    state: MonitorState,
    facts: MonitorFacts,
    routes: Sequence[RouteLike],
    *,
    parents_down: bool,
    last_notice: LastNotice | None,
    now: datetime,
    in_maintenance: bool = False,
    default: RouteLike | None = None,
) -> list[Alert]:
    """The alerts owed by the passing of time, for a timer to ask every few seconds.

    A REMINDER when one is due; or an alert that no status change carried (a DOWN held
    back while a parent was down, the status a flapping monitor settled on).
    """
    kind = _owed(state.status, state.flapping, parents_down, last_notice, in_maintenance)
    if kind is not None:
        return _alerts(kind, facts, routes, default)
    if (
        state.status is not Status.DOWN
        or state.flapping
        or parents_down
        or in_maintenance
        or last_notice is None
        or last_notice.kind not in _SAID_DOWN
    ):
        return []
    chosen = match_route(facts, routes, default)
    if chosen is None or not chosen.remind_every:
        return []
    if now - last_notice.at < timedelta(seconds=chosen.remind_every):
        return []
    return [Alert(channel, AlertKind.REMINDER) for channel in chosen.channels]


def _owed(
    status: Status,
    flapping: bool,
    parents_down: bool,
    last: LastNotice | None,
    in_maintenance: bool,
) -> AlertKind | None:
    """What the reader must be told so their picture matches `status`, or None."""
    if in_maintenance or status not in (Status.UP, Status.DEGRADED, Status.DOWN):
        return None
    said = last.kind if last is not None else None
    if flapping:
        return None if parents_down or said is AlertKind.FLAPPING else AlertKind.FLAPPING
    if status is Status.UP:
        return None if said is None or said is AlertKind.UP else AlertKind.UP
    if parents_down:
        return None
    if status is Status.DOWN:
        return None if said in _SAID_DOWN else AlertKind.DOWN
    return None if said is AlertKind.DEGRADED else AlertKind.DEGRADED


def _alerts(
    kind: AlertKind | None,
    facts: MonitorFacts,
    routes: Sequence[RouteLike],
    default: RouteLike | None,
) -> list[Alert]:
    if kind is None:
        return []
    chosen = match_route(facts, routes, default)
    if chosen is None:
        return []
    return [Alert(channel, kind) for channel in chosen.channels]
