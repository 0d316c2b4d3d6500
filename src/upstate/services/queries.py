"""What the API asks about monitors' pasts: results, uptime, status changes, the overall status.

Uptime follows healthchecks' Flip model: the status changes are the timeline. Over a
window [since, until) the status in force at `since` is the last change before it; each
change inside the window starts a new segment. Downtime is the time spent DOWN. The
uptime percentage is over the time whose status was known and counted: UNKNOWN (not
checked yet, or no fresh results), PAUSED and MAINTENANCE are left out of both sides,
so a maintenance window never counts as downtime. DEGRADED counts as up: it is no
outage. An outage is one stretch of DOWN that overlaps the window (one that began
before the window counts too). Latency percentiles come from the hourly and daily
rollups, so their resolution is one hour at the window's ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import text

from upstate.domain.enums import Status
from upstate.errors import UsageError
from upstate.services.monitors import require
from upstate.store import changes as change_store
from upstate.store import monitors as monitor_store
from upstate.store import results as result_store
from upstate.store import rollups, states
from upstate.store.db import Db
from upstate.store.results import InvalidCursor, ResultRow

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
NOT_COUNTED = frozenset((Status.UNKNOWN, Status.PAUSED, Status.MAINTENANCE))
_CHANGES_PER_READ = 5_000


class OverallStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class ResultView:
    started_at: datetime
    region: str
    status: Status
    duration_ms: float
    phases: dict[str, float | None]
    status_code: int | None
    error: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class ResultsPage:
    items: list[ResultView]
    next_cursor: str | None  # pass back as `cursor` for the next (older) page


@dataclass(frozen=True, slots=True)
class Downtime:
    down_s: float  # time spent DOWN
    counted_s: float  # time with a known status, outside maintenance and pauses
    outages: int  # stretches of DOWN overlapping the window


@dataclass(frozen=True, slots=True)
class Latency:
    p50: float | None
    p95: float | None
    p99: float | None
    avg: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class UptimeView:
    window: str
    since: datetime
    until: datetime
    uptime_percent: float | None  # None when no time in the window was counted
    downtime_s: float
    outages: int
    counted_s: float
    checks: int
    latency_ms: Latency


@dataclass(frozen=True, slots=True)
class ChangeView:
    at: datetime
    previous: Status
    status: Status
    reason: str
    flapping: bool
    region: str | None


@dataclass(frozen=True, slots=True)
class MonitorStatus:
    key: str
    name: str
    status: Status
    critical: bool
    since: datetime | None


@dataclass(frozen=True, slots=True)
class OverallView:
    status: OverallStatus
    monitors: list[MonitorStatus]


# --- results -------------------------------------------------------------------------------


async def results_page(
    session: Db,
    key: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    region: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> ResultsPage:
    """Newest first; `since` inclusive, `until` exclusive; at most 1000 a page."""
    record = await require(session, key)
    try:
        page = await result_store.page(
            session,
            record.id,
            since=since,
            until=until,
            region=region,
            cursor=cursor,
            limit=limit,
        )
    except InvalidCursor as exc:
        raise UsageError(str(exc)) from None
    return ResultsPage([_result(row) for row in page.items], page.next_cursor)


def _result(row: ResultRow) -> ResultView:
    error = None
    if row.error_kind is not None:
        error = {"kind": row.error_kind.value, "message": row.error_message or ""}
    return ResultView(
        started_at=row.started_at,
        region=row.region,
        status=row.status,
        duration_ms=row.duration_ms,
        phases={
            "dns_ms": row.dns_ms,
            "connect_ms": row.connect_ms,
            "tls_ms": row.tls_ms,
            "ttfb_ms": row.ttfb_ms,
            "transfer_ms": row.transfer_ms,
        },
        status_code=row.status_code,
        error=error,
    )


# --- uptime --------------------------------------------------------------------------------


async def uptime(session: Db, key: str, window: str, *, now: datetime) -> UptimeView:
    span = WINDOWS.get(window)
    if span is None:
        raise UsageError(f"unknown window {window!r}: use one of {', '.join(WINDOWS)}")
    record = await require(session, key)
    since = now - span
    before = await change_store.last_before(session, record.id, since)
    at_start = before.status if before is not None else Status.UNKNOWN
    inside = await _changes_between(session, record.id, since, now)
    outcome = downtime(at_start, [(c.at, c.status) for c in inside], since, now)
    rollup = await rollups.window(session, record.id, since, now)
    percent = None
    if outcome.counted_s > 0:
        percent = round(100.0 * (outcome.counted_s - outcome.down_s) / outcome.counted_s, 4)
    return UptimeView(
        window=window,
        since=since,
        until=now,
        uptime_percent=percent,
        downtime_s=round(outcome.down_s, 3),
        outages=outcome.outages,
        counted_s=round(outcome.counted_s, 3),
        checks=rollup.count,
        latency_ms=Latency(
            p50=_ms(rollup.quantile(0.5)),
            p95=_ms(rollup.quantile(0.95)),
            p99=_ms(rollup.quantile(0.99)),
            avg=_ms(rollup.latency_avg),
            min=_ms(rollup.latency_min),
            max=_ms(rollup.latency_max),
        ),
    )


def downtime(
    at_start: Status,
    changes: Iterable[tuple[datetime, Status]],
    since: datetime,
    until: datetime,
) -> Downtime:
    """Time DOWN and time counted within [since, until), from the status in force at
    `since` and the (time, new status) changes after it, oldest first."""
    segments: list[tuple[Status, float]] = []
    status, cursor = at_start, since
    for at, new in changes:
        at = min(max(at, since), until)
        segments.append((status, (at - cursor).total_seconds()))
        status, cursor = new, at
    segments.append((status, (until - cursor).total_seconds()))
    down = counted = 0.0
    outages = 0
    in_outage = False
    for segment_status, seconds in segments:
        if seconds <= 0:
            continue
        if segment_status not in NOT_COUNTED:
            counted += seconds
        if segment_status is Status.DOWN:
            down += seconds
            outages += not in_outage
        in_outage = segment_status is Status.DOWN
    return Downtime(down, counted, outages)


async def _changes_between(
    session: Db, monitor_id: int, since: datetime, until: datetime
) -> list[change_store.StatusChange]:
    """Every change in [since, until), oldest first, read in slices."""
    found: list[change_store.StatusChange] = []
    seen: set[int | None] = set()
    start = since
    while True:
        batch = await change_store.list_changes(
            session,
            monitor_id,
            since=start,
            until=until,
            limit=_CHANGES_PER_READ,
            newest_first=False,
        )
        fresh = [change for change in batch if change.id not in seen]
        found.extend(fresh)
        seen.update(change.id for change in fresh)
        if len(batch) < _CHANGES_PER_READ or not fresh:
            return found
        start = batch[-1].at


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- changes and the overall status --------------------------------------------------------


async def changes_of(
    session: Db,
    key: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[ChangeView]:
    """Newest first; for older ones pass the oldest `at` seen as `until`."""
    record = await require(session, key)
    rows = await change_store.list_changes(
        session, record.id, since=since, until=until, limit=limit
    )
    return [ChangeView(c.at, c.previous, c.status, c.reason, c.flapping, c.region) for c in rows]


def overall_of(monitors: Iterable[tuple[Status, bool]]) -> OverallStatus:
    """(status, critical) pairs -> down if a critical monitor is down; degraded if another
    is down or any is degraded; else operational (paused, unknown, maintenance count as fine)."""
    result = OverallStatus.OPERATIONAL
    for status, critical in monitors:
        if status is Status.DOWN and critical:
            return OverallStatus.DOWN
        if status in (Status.DOWN, Status.DEGRADED):
            result = OverallStatus.DEGRADED
    return result


async def overall(session: Db) -> OverallView:
    records = await monitor_store.list_all(session)
    known = await states.list_states(session)
    items = []
    for record in records:
        state = known.get(record.id)
        status = state.status if state else (Status.PAUSED if record.paused else Status.UNKNOWN)
        since = state.since if state else None
        items.append(MonitorStatus(record.key, record.name, status, record.critical, since))
    return OverallView(overall_of((m.status, m.critical) for m in items), items)


async def database_alive(session: Db) -> None:
    """One round trip to the database (raises what the driver raises)."""
    await session.execute(text("SELECT 1"))
