"""Maintenance windows: when they are in progress, and when subscribers are told. Pure.

A window is one-off (`start`, and `end` or `duration`) or recurring (a cron `schedule`
read in `timezone`, each occurrence lasting `duration`). The fields are those of
`config.maintenance.Maintenance`, so a config window converts by its field names (plus
a `key` and `created_at`, which the store gives it). Time is always an argument.

Decisions:

- **Status** is derived, never stored: `scheduled` before an occurrence, `in_progress`
  during one, `completed` after a one-off window. A recurring window is never completed
  (delete it to end it). `verifying` and an early end are set by hand on one-off windows
  (`verifying_at`, `completed_at`); the monitors stay in maintenance while verifying.
- **Recurring occurrences** are `[fire, fire + duration)` for each cron fire time, found
  by `push.CronSchedule`, so daylight saving time works as for push monitors (a fixed-hour
  window on the day the clocks jump starts as they jump; one in a repeated hour runs once).
  Occurrences that overlap or touch are one stretch of maintenance: people are told when
  the stretch starts and ends, not at every fire inside it. Whether a fire continues a
  stretch is decided from the schedule alone (is there a fire within `duration` before
  it?), so the answer is the same whichever moment one asks from.
- **Notices**: `scheduled` when the window is created; a `reminder` an hour before each
  start; `started`; `completed`. A window created less than an hour before its start
  skips the reminder; one created during an occurrence is `started` at creation; one
  created after it ended says nothing at all. A reminder that would only be noticed
  after its start has passed (Upstate was down) is dropped: the `started` says more.
- **No duplicates, no gaps.** `due_notices(window, since, until)` returns the notices
  whose moment is in `(since, until]`. A timer calls it every few seconds with
  `until=now` and keeps `since=until` afterwards (stored with the window, in the same
  transaction as the outbox rows): consecutive calls cover time exactly once, and after
  a restart the first call catches up on whatever fell due meanwhile. Start a window's
  `since` just before its `created_at`, so `scheduled` is never missed; an early end by
  hand should set `completed_at` no earlier than the stored `since`. Each notice has a
  stable `key` for the outbox's idempotency.
- `next_transition(windows, now)` is when the engine should look again: the earliest
  moment after `now` at which a status may change or a notice fall due. It may be early
  (a fire inside a stretch), never late.

Cost: a handful of cron look-ups per window per call (each about 20 us for plain
expressions); `due_notices` walks the fire times in the interval it is asked about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from upstate.domain.push import CronSchedule

REMINDER_BEFORE = timedelta(hours=1)
_TICK = timedelta(microseconds=1)


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"

    @property
    def is_active(self) -> bool:
        """Monitors are in maintenance (alerts suppressed, downtime not counted)."""
        return self in (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)


class NoticeKind(StrEnum):
    SCHEDULED = "maintenance.scheduled"
    REMINDER = "maintenance.reminder"
    STARTED = "maintenance.started"
    COMPLETED = "maintenance.completed"


_ORDER = {kind: index for index, kind in enumerate(NoticeKind)}
_Add = Callable[[NoticeKind, datetime, datetime, datetime], None]


@dataclass(frozen=True, slots=True)
class MaintenanceNotice:
    """One thing to tell subscribers: what, when it fell due, and the occurrence it is

    about (for `completed` of a stretch of occurrences, the last one).
    """

    window: str
    kind: NoticeKind
    at: datetime
    starts: datetime
    ends: datetime

    @property
    def key(self) -> str:
        """Stable across calls and restarts: the outbox's idempotency key."""
        return f"maintenance:{self.window}:{self.kind.value}:{self.at.isoformat()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintenanceWindow:
    """A window as configured (or created through the API), with its key and creation time.

    Raises ValueError unless it is exactly one of the two forms, whole, with aware
    datetimes and a usable schedule and time zone. Datetimes are kept in UTC.
    """

    key: str
    title: str
    monitors: tuple[str, ...]
    created_at: datetime
    description: str | None = None
    schedule: str | None = None
    duration: float | None = None  # seconds, as the config language parses it
    start: datetime | None = None
    end: datetime | None = None
    timezone: str = "UTC"
    verifying_at: datetime | None = None  # set by hand: the work is done, being checked
    completed_at: datetime | None = None  # set by hand: ended early
    cron: CronSchedule | None = field(init=False, repr=False, compare=False)
    length: timedelta = field(init=False, repr=False, compare=False)  # of one occurrence
    first: datetime = field(init=False, repr=False, compare=False)  # first start, or fire

    def __post_init__(self) -> None:
        for name in ("created_at", "start", "end", "verifying_at", "completed_at"):
            value = getattr(self, name)
            if value is not None:
                if value.utcoffset() is None:
                    raise ValueError(f"{name} must be timezone-aware")
                object.__setattr__(self, name, value.astimezone(UTC))
        if self.duration is not None and not self.duration > 0:
            raise ValueError(f"duration must be positive, not {self.duration}")
        if self.schedule is not None:
            self._recurring()
        else:
            self._one_off()

    def _recurring(self) -> None:
        if self.start is not None or self.end is not None:
            raise ValueError("give a schedule or start/end, not both")
        if self.duration is None:
            raise ValueError("a recurring window needs a duration")
        if self.verifying_at is not None or self.completed_at is not None:
            raise ValueError("verifying and ending early are for one-off windows")
        cron = CronSchedule(self.schedule or "", self.timezone)
        length = timedelta(seconds=self.duration)
        object.__setattr__(self, "cron", cron)
        object.__setattr__(self, "length", length)
        # The first occurrence still running or to come when the window was created.
        object.__setattr__(self, "first", cron.next_fire(self.created_at - length))

    def _one_off(self) -> None:
        start, end = self.start, self.end
        if start is None:
            raise ValueError("a window needs a schedule and duration, or a start")
        if (end is None) == (self.duration is None):
            raise ValueError("a one-off window needs an end or a duration, not both")
        if end is None:
            end = start + timedelta(seconds=self.duration or 0)
            object.__setattr__(self, "end", end)
        if not end > start:
            raise ValueError("end must be after start")
        for name in ("verifying_at", "completed_at"):
            moment = getattr(self, name)
            if moment is not None and moment < start:
                raise ValueError(f"{name} must not be before the start")
        object.__setattr__(self, "cron", None)
        object.__setattr__(self, "length", end - start)
        object.__setattr__(self, "first", start)

    @property
    def recurring(self) -> bool:
        return self.cron is not None

    @property
    def ends(self) -> datetime:
        """A one-off window's end, an early end by hand included."""
        end = self.end
        if end is None:
            raise ValueError("a recurring window has no single end")
        if self.completed_at is not None and self.completed_at < end:
            return self.completed_at
        return end


# --- status --------------------------------------------------------------------------------


def status_at(window: MaintenanceWindow, now: datetime) -> MaintenanceStatus:
    cron = window.cron
    if cron is not None:
        if cron.next_fire(now - window.length) <= now:
            return MaintenanceStatus.IN_PROGRESS
        return MaintenanceStatus.SCHEDULED
    if now < window.first:
        return MaintenanceStatus.SCHEDULED
    if now >= window.ends:
        return MaintenanceStatus.COMPLETED
    if window.verifying_at is not None and window.verifying_at <= now:
        return MaintenanceStatus.VERIFYING
    return MaintenanceStatus.IN_PROGRESS


def occurrence(window: MaintenanceWindow, now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence in progress at `now`, else the next one (Statuspage's scheduled_for

    and scheduled_until); None once a one-off window is over.
    """
    cron = window.cron
    if cron is not None:
        fire = cron.next_fire(now - window.length)
        return fire, fire + window.length
    if now >= window.ends:
        return None
    return window.first, window.ends


def active_windows(windows: Iterable[MaintenanceWindow], now: datetime) -> list[MaintenanceWindow]:
    """The windows in progress (or verifying) at `now`."""
    return [w for w in windows if status_at(w, now).is_active]


def monitors_in_maintenance(windows: Iterable[MaintenanceWindow], now: datetime) -> frozenset[str]:
    """The keys of the monitors inside an active window at `now`."""
    return frozenset(key for w in active_windows(windows, now) for key in w.monitors)


def next_transition(windows: Iterable[MaintenanceWindow], now: datetime) -> datetime | None:
    """The earliest moment after `now` when a status may change or a notice fall due."""
    best: datetime | None = None
    for window in windows:
        for moment in _moments_after(window, now):
            if moment > now and (best is None or moment < best):
                best = moment
    return best


def _moments_after(window: MaintenanceWindow, now: datetime) -> list[datetime]:
    cron = window.cron
    if cron is not None:
        length = window.length
        return [
            window.created_at,
            cron.next_fire(now),  # the next start
            cron.next_fire(now - length) + length,  # the next end
            cron.next_fire(now + REMINDER_BEFORE) - REMINDER_BEFORE,  # the next reminder
        ]
    moments = [window.created_at, window.first - REMINDER_BEFORE, window.first, window.ends]
    if window.verifying_at is not None:
        moments.append(window.verifying_at)
    return moments


# --- notices -------------------------------------------------------------------------------


def due_notices(
    window: MaintenanceWindow, since: datetime, until: datetime
) -> list[MaintenanceNotice]:
    """The notices whose moment falls in `(since, until]`, in order. See the module doc."""
    if until <= since:
        return []
    due: list[MaintenanceNotice] = []

    def add(kind: NoticeKind, at: datetime, starts: datetime, ends: datetime) -> None:
        if since < at <= until:
            due.append(MaintenanceNotice(window.key, kind, at, starts, ends))

    created = window.created_at
    cron = window.cron
    if cron is None:
        start, end = window.first, window.ends
        if end <= created:
            return []
        add(NoticeKind.SCHEDULED, created, start, end)
        _add_start(add, start, end, created, until)
        add(NoticeKind.COMPLETED, end, start, end)
    else:
        length, first = window.length, window.first
        add(NoticeKind.SCHEDULED, created, first, first + length)
        fire = cron.next_fire(max(since, created) - length)
        last = until + REMINDER_BEFORE
        while fire <= last:
            following = cron.next_fire(fire)
            continues = fire != first and cron.next_fire(fire - length - _TICK) < fire
            if not continues:
                _add_start(add, fire, fire + length, created, until)
            if following > fire + length:  # the stretch ends with this occurrence
                add(NoticeKind.COMPLETED, fire + length, fire, fire + length)
            fire = following
    due.sort(key=lambda n: (n.at, _ORDER[n.kind]))
    return due


def _add_start(
    add: _Add, start: datetime, end: datetime, created: datetime, until: datetime
) -> None:
    """The reminder (unless too late or too soon after creation) and the start."""
    reminder = start - REMINDER_BEFORE
    if reminder > created and until < start:
        add(NoticeKind.REMINDER, reminder, start, end)
    add(NoticeKind.STARTED, max(start, created), start, end)
