"""Push monitors (heartbeats, cron check-ins): what a ping says, and when silence means late.

A job calls `/ping/<token>` when it finishes (or `/fail`, or `/<exit status>`), and may call
`/start` when it begins. `record_ping` turns each ping into a stored PushState and a verdict
for the evaluator; `is_late` is asked every second whether the silence has lasted too long,
and a late monitor goes through `status.push_late`. Time is always an argument.

Decisions, in the habit of healthchecks.io:

- **Due, then grace.** A `period` monitor is due `period` after its last ping; a `schedule`
  (cron) monitor is due at the first fire time of the schedule after its last ping, in the
  schedule's time zone. It is *late* once `grace` has passed after that.
- **Only a completion is a check-in.** Success, failure and an exit status all move
  `last_ping_at` (a failing job still ran, and its next run is due on schedule); `/start`
  does not. A failure is DOWN at once; the next success recovers.
- **A run must finish within grace of its start.** While a `/start` waits for its
  completion, the monitor is late at `started_at + grace` if that comes before the normal
  deadline: the earlier of the two wins, as in healthchecks. A start vouches that the job
  began, not that it will end, so it never extends the deadline; set `grace` to cover the
  longest run. A grace of 0 sets no run-time limit (a job cannot finish instantly).
- **A monitor that never reported goes down.** Before the first ping, the due time counts
  from `created_at` (when Upstate began tracking it). Healthchecks keeps such a check
  "new" forever, which hides a job that never ran; here the first deadline is as if the
  monitor had been pinged when it was created.
- **Run time** is completion - start, when a start is pending and at most 72 hours old (as
  healthchecks does; a later start always replaces an earlier one, so only a lost `/start`
  can pair a completion with an older run). Otherwise the run time is unknown.
- **Pings arrive in order.** A ping older than the last completion (delivered late) is
  ignored: verdict None, state unchanged.
- **Cron and daylight saving time** follow ISC cron. A schedule with a fixed hour
  (`0 3 * * *`, `30 1 * * SUN`) fires once on the day the clocks change: as the clocks
  jump over its time, or at the first pass of a repeated hour. A schedule with `*` as its
  hour (`*/15 * * * *`, `@hourly`) follows the clock: nothing fires in a skipped hour, and
  a repeated hour fires twice.

Cost: `is_late` is a dict lookup, two additions and a comparison (about 0.5 us); once
late, its sentence is built once and kept. The due time of a schedule is computed once per
last ping and kept on the PushSchedule (build one per monitor and keep it): plain cron
expressions are walked here in about 20 us; the rare ones with `L`, `W`, `#`, seconds, or
both day fields restricted go through croniter (about 0.4 ms).
"""

from __future__ import annotations

import calendar
import re
import zoneinfo
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from croniter import croniter

from upstate.domain.durations import format_duration
from upstate.domain.enums import Status

MAX_RUN = timedelta(hours=72)  # a start older than this at completion is not the same run
_ZERO = timedelta(0)
_MINUTE = timedelta(minutes=1)
_NEAR = timedelta(hours=3)  # longer than any daylight-saving shift
_YEARS = 9  # a cron expression that does not fire within this many years never will (Feb 29)


class PingKind(StrEnum):
    """What a ping says: /ping/<token>, /start, /fail or /<exit status 0-255>."""

    SUCCESS = "success"
    START = "start"
    FAIL = "fail"
    EXIT = "exit"  # carries exit_status; 0 is a success


# --- cron ----------------------------------------------------------------------------------

_NUMERIC_FIELD = re.compile(r"[0-9*,/?-]+")
_NAMED_FIELD = re.compile(r"(?:[0-9*,/?-]|[A-Za-z]{3})+")


@dataclass(frozen=True, slots=True)
class _Fields:
    """A plain cron expression's fields; None means any."""

    minutes: tuple[int, ...]  # sorted
    hours: tuple[int, ...]  # sorted
    days: frozenset[int] | None  # of the month
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 0 is Sunday


class CronSchedule:
    """A cron expression read in a time zone: its fire times as UTC instants.

    Raises ValueError for an expression or time zone that cannot be used, or an expression
    that never fires (`0 0 30 2 *`).
    """

    __slots__ = ("_fields", "_hour_is_any", "_zone", "expression", "timezone")

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        try:
            self._zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        try:
            parsed = croniter(expression)
        except (ValueError, KeyError, TypeError):  # croniter's own errors are ValueErrors
            raise ValueError(f"invalid cron expression {expression!r}") from None
        expanded: list[list[Any]] = parsed.expanded
        self.expression = expression
        self.timezone = timezone
        self._hour_is_any = expanded[1] == ["*"]
        self._fields = _plain_fields(expression, expanded, bool(parsed.nth_weekday_of_month))
        try:
            self._wall_next(datetime(2000, 1, 1))
        except ValueError:
            raise ValueError(f"the cron expression {expression!r} never fires") from None

    def next_fire(self, after: datetime) -> datetime:
        """The first fire time strictly after the aware datetime `after`, in UTC."""
        # A wall time can happen earlier than its face value says (in a repeated hour), so
        # the walk starts from `after` read with the smallest offset in force around it.
        offset = min(self._offset(after), self._offset(after + _NEAR))
        wall = after.astimezone(UTC).replace(tzinfo=None) + offset
        best: datetime | None = None
        best_is_repeat = False
        for _ in range(10_000):  # a few steps, at most an hour of minutes in a repeated hour
            wall = self._wall_next(wall)
            repeated = False
            for instant, repeat in self._instants(wall):
                repeated = repeated or repeat
                if instant > after and (best is None or instant < best):
                    best, best_is_repeat = instant, repeat
            # Instants grow with wall time, except for second passes of a repeated hour: a
            # best found there may still be beaten by a first pass later in that hour.
            if best is not None and not (best_is_repeat and repeated):
                return best
        raise ValueError(f"no fire time found for {self.expression!r}")  # pragma: no cover

    def _offset(self, moment: datetime) -> timedelta:
        return moment.astimezone(self._zone).utcoffset() or _ZERO

    def _instants(self, wall: datetime) -> list[tuple[datetime, bool]]:
        """When a wall time happens: (instant, is the second pass of a repeated hour)."""
        first = wall.replace(tzinfo=self._zone)
        second = wall.replace(tzinfo=self._zone, fold=1)
        before, after = first.utcoffset() or _ZERO, second.utcoffset() or _ZERO
        if before == after:
            return [(first.astimezone(UTC), False)]
        if before > after:  # the clocks went back: the wall time happens twice
            once = [(first.astimezone(UTC), False)]
            return [*once, (second.astimezone(UTC), True)] if self._hour_is_any else once
        # The clocks went forward over it: a fixed-hour job runs as the gap ends.
        if self._hour_is_any:
            return []
        return [(self._gap_end(second.astimezone(UTC), first.astimezone(UTC)), False)]

    def _gap_end(self, low: datetime, high: datetime) -> datetime:
        """The instant the clocks jumped, between `low` (old offset) and `high` (new)."""
        target = high.astimezone(self._zone).utcoffset()
        lo, hi = int(low.timestamp()), int(high.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self._zone).utcoffset() == target:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, UTC)

    def _wall_next(self, wall: datetime) -> datetime:
        """The first wall-clock time the expression matches strictly after naive `wall`."""
        if self._fields is None:
            moment = croniter(self.expression, wall.replace(tzinfo=UTC)).get_next(datetime)
            return datetime(*moment.timetuple()[:6])
        return _plain_next(self._fields, wall)


def _plain_fields(expression: str, expanded: list[list[Any]], nth_weekday: bool) -> _Fields | None:
    """The fields of a plain expression, walked here; None sends the others to croniter."""
    if not expression.startswith("@"):
        parts = expression.split()
        if len(parts) != 5 or nth_weekday:
            return None
        patterns = (_NUMERIC_FIELD,) * 3 + (_NAMED_FIELD,) * 2
        if not all(p.fullmatch(part) for p, part in zip(patterns, parts, strict=True)):
            return None
    if not all(v == "*" or isinstance(v, int) for values in expanded for v in values):
        return None
    minutes, hours, days, months, weekdays = (
        None if values == ["*"] else frozenset(values) for values in expanded[:5]
    )
    if days is not None and weekdays is not None:  # either one matches: croniter's rule
        return None
    return _Fields(
        minutes=tuple(sorted(minutes)) if minutes is not None else tuple(range(60)),
        hours=tuple(sorted(hours)) if hours is not None else tuple(range(24)),
        days=days,
        months=months,
        weekdays=weekdays,
    )


def _month_days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _plain_next(fields: _Fields, wall: datetime) -> datetime:
    minutes, hours = fields.minutes, fields.hours
    days, months, weekdays = fields.days, fields.months, fields.weekdays
    start = wall.replace(second=0, microsecond=0) + _MINUTE
    year, month, day, hour, minute = start.year, start.month, start.day, start.hour, start.minute
    last_year = year + _YEARS
    while year <= last_year:
        if (months is not None and month not in months) or day > _month_days(year, month):
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            day, hour, minute = 1, 0, 0
            continue
        if (days is not None and day not in days) or (
            weekdays is not None and (date(year, month, day).weekday() + 1) % 7 not in weekdays
        ):
            day, hour, minute = day + 1, 0, 0
            continue
        i = bisect_left(hours, hour)
        if i == len(hours):
            day, hour, minute = day + 1, 0, 0
            continue
        if hours[i] != hour:
            hour, minute = hours[i], 0
        j = bisect_left(minutes, minute)
        if j == len(minutes):
            hour, minute = hour + 1, 0
            continue
        return datetime(year, month, day, hour, minutes[j])
    raise ValueError(f"the cron expression never fires within {_YEARS} years")


# --- schedule and state ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PushSchedule:
    """When a push monitor expects pings: every `period_s`, or on a `cron` schedule.

    Built once per monitor from its config (`timezone=monitor.timezone or "UTC"`) and kept:
    it remembers the due time of the last ping it was asked about, which is what keeps
    `is_late` cheap for cron schedules. Raises ValueError unless exactly one of period_s
    and cron is given, or for a cron expression or time zone that cannot be used.
    """

    period_s: float | None = None
    cron: str | None = None
    timezone: str = "UTC"
    grace_s: float = 0.0
    period: timedelta = field(init=False, repr=False, compare=False)
    grace: timedelta = field(init=False, repr=False, compare=False)
    zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)
    cron_schedule: CronSchedule | None = field(init=False, repr=False, compare=False)
    _due: dict[datetime, datetime] = field(init=False, repr=False, compare=False)
    _late: list[tuple[PushState, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.period_s is None) == (self.cron is None):
            raise ValueError("a push monitor needs a period or a cron schedule, not both")
        if self.period_s is not None and not timedelta(seconds=self.period_s) > _ZERO:
            raise ValueError(f"period must be positive, not {self.period_s}")
        if not self.grace_s >= 0:
            raise ValueError(f"grace must not be negative, not {self.grace_s}")
        schedule = CronSchedule(self.cron, self.timezone) if self.cron is not None else None
        try:
            zone = zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        object.__setattr__(self, "period", timedelta(seconds=self.period_s or 0))
        object.__setattr__(self, "grace", timedelta(seconds=self.grace_s))
        object.__setattr__(self, "zone", zone)
        object.__setattr__(self, "cron_schedule", schedule)
        object.__setattr__(self, "_due", {})
        object.__setattr__(self, "_late", [])

    def due_after(self, last: datetime) -> datetime:
        """When the next ping is due (grace not included) after a ping at `last` (aware)."""
        cron = self.cron_schedule
        if cron is None:
            return last + self.period
        due = self._due.get(last)
        if due is None:
            if len(self._due) >= 4:  # a monitor asks about one or two moments at a time
                self._due.clear()
            due = self._due[last] = cron.next_fire(last)
        return due

    def late_reason(self, state: PushState, limit: datetime) -> str:
        """Why `state` is late at its deadline `limit`, kept for the calls that follow.

        A late monitor is asked every second until it pings; the sentence is built once.
        """
        late = self._late
        if late and (late[0][0] is state or late[0][0] == state):
            return late[0][1]
        reason = _late_reason(state, self, limit)
        late[:] = [(state, reason)]
        return reason


@dataclass(frozen=True, slots=True)
class PushState:
    """What is stored for a push monitor between pings (a JSON column: to_dict/from_dict).

    `last_ping_at` and `last_ping_kind` are the last completion (success, fail or exit):
    the check-in the next due time counts from. A pending `/start` is `started_at` only.
    Datetimes are aware; record_ping and from_dict keep them in UTC.
    """

    created_at: datetime  # when Upstate began tracking the monitor
    last_ping_at: datetime | None = None
    last_ping_kind: PingKind | None = None
    last_exit_status: int | None = None  # with kind EXIT
    started_at: datetime | None = None  # a /start not yet followed by a completion
    last_duration_ms: float | None = None  # the last completed run, measured from /start

    def __post_init__(self) -> None:
        for name in ("created_at", "last_ping_at", "started_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: datetimes as ISO 8601, the kind as its value."""
        return {
            "created_at": self.created_at.isoformat(),
            "last_ping_at": _iso(self.last_ping_at),
            "last_ping_kind": self.last_ping_kind.value if self.last_ping_kind else None,
            "last_exit_status": self.last_exit_status,
            "started_at": _iso(self.started_at),
            "last_duration_ms": self.last_duration_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PushState:
        """The inverse of to_dict; missing keys take their defaults (rows older than a field)."""
        kind = data.get("last_ping_kind")
        exit_status = data.get("last_exit_status")
        duration = data.get("last_duration_ms")
        return cls(
            created_at=_utc(datetime.fromisoformat(data["created_at"])),
            last_ping_at=_parse(data.get("last_ping_at")),
            last_ping_kind=PingKind(kind) if kind else None,
            last_exit_status=int(exit_status) if exit_status is not None else None,
            started_at=_parse(data.get("started_at")),
            last_duration_ms=float(duration) if duration is not None else None,
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse(text: str | None) -> datetime | None:
    return _utc(datetime.fromisoformat(text)) if text else None


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment.isoformat()}")
    return moment.astimezone(UTC)


# --- pings ---------------------------------------------------------------------------------


class PingOutcome(NamedTuple):
    """A ping's effect: the new state and the verdict for the evaluator.

    `status` is UP or DOWN, to feed `next_status` as a RegionResult; None when the ping
    changes nothing visible (a /start, or a ping delivered out of order). `reason` says
    why, for people: "ran 2m13s", "exit status 3 after 4s", "the job reported failure".
    """

    state: PushState
    status: Status | None
    reason: str


def record_ping(
    state: PushState, kind: PingKind | str, at: datetime, exit_status: int | None = None
) -> PingOutcome:
    """The state after a ping received at `at` (aware). Raises ValueError for a bad ping.

    `exit_status` (0-255) comes with kind EXIT only; 0 is a success.
    """
    kind = PingKind(kind)
    at = _utc(at)
    if (kind is PingKind.EXIT) != (exit_status is not None):
        raise ValueError("an exit status comes with an exit ping, and only with one")
    if exit_status is not None and not 0 <= exit_status <= 255:
        raise ValueError(f"exit status must be 0-255, not {exit_status}")
    if state.last_ping_at is not None and at < state.last_ping_at:
        return PingOutcome(state, None, "older than the last ping; ignored")
    if kind is PingKind.START:
        return PingOutcome(replace(state, started_at=at), None, "started")

    started, duration_ms = state.started_at, None
    if started is not None and started <= at:
        if at - started <= MAX_RUN:
            duration_ms = (at - started).total_seconds() * 1000
        started = None  # this completion ends the pending run
    ran = format_duration(duration_ms / 1000) if duration_ms is not None else None
    if kind is PingKind.FAIL or (kind is PingKind.EXIT and exit_status != 0):
        status = Status.DOWN
        what = "the job reported failure" if kind is PingKind.FAIL else f"exit status {exit_status}"
        reason = f"{what} after {ran}" if ran else what
    else:
        status = Status.UP
        reason = f"ran {ran}" if ran else "ping received"
    new = PushState(
        created_at=state.created_at,
        last_ping_at=at,
        last_ping_kind=kind,
        last_exit_status=exit_status,
        started_at=started,
        last_duration_ms=duration_ms,
    )
    return PingOutcome(new, status, reason)


# --- lateness ------------------------------------------------------------------------------


def deadline(state: PushState, schedule: PushSchedule) -> datetime:
    """When the monitor becomes late: due + grace, or sooner for a run that began (UTC)."""
    limit = schedule.due_after(state.last_ping_at or state.created_at) + schedule.grace
    started = state.started_at
    if started is not None and schedule.grace:
        run_limit = started + schedule.grace
        if run_limit < limit:
            return run_limit
    return limit


def is_late(state: PushState, schedule: PushSchedule, now: datetime) -> str | None:
    """Why the monitor is late at `now`, or None while it is not. Cheap: call it every second.

    Once late, a monitor stays late until a ping arrives; call `status.push_late` when this
    first returns a reason (for instance while the monitor's underlying status is not DOWN).
    """
    limit = deadline(state, schedule)
    if now < limit:
        return None
    return schedule.late_reason(state, limit)


def _late_reason(state: PushState, schedule: PushSchedule, limit: datetime) -> str:
    zone = schedule.zone
    grace = format_duration(schedule.grace_s) if schedule.grace else ""
    if state.started_at is not None and limit == state.started_at + schedule.grace and grace:
        return f"started at {_show(state.started_at, zone)} and did not finish within {grace}"
    last = state.last_ping_at
    since = _show(last, zone) if last else f"monitoring began at {_show(state.created_at, zone)}"
    due = _show(schedule.due_after(last or state.created_at), zone)
    expected = f"{due} + {grace} grace" if grace else due
    return f"no ping since {since} (expected by {expected})"


def next_expected(state: PushState, schedule: PushSchedule, now: datetime) -> datetime:
    """When the next ping is due (grace not included), for the API to show (UTC).

    For a period, `period` after the last ping, even when that has passed (it is overdue).
    For a schedule, the first fire time after the last ping unless that run's grace has
    also passed; then the next run whose grace has not (what the job should do next).
    """
    last = state.last_ping_at or state.created_at
    due = schedule.due_after(last)
    cron = schedule.cron_schedule
    if cron is None or due + schedule.grace > now:
        return due
    return cron.next_fire(now - schedule.grace)


def _show(moment: datetime, zone: zoneinfo.ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
