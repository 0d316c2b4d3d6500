"""Hourly and daily rollups of results, so pages and reports never scan raw rows.

`apply` folds a batch of results into per-(monitor, region, hour) and per-(…, day)
sums in Python, then adds them to the stored rows with one INSERT … ON CONFLICT DO
UPDATE executemany: counters and histogram buckets add up in SQL, min and max compare.
Call it in the same transaction as results.insert_many, so the two never disagree.

The upsert runs at the driver level (store._sql.DriverStatement): at 10,000 monitors every
minute each flush holds one result per monitor, so nothing folds and every result is two
42-column rows. Through Core executemany that cost ~48 µs of CPU per result on SQLite
(~40 µs of it preparing parameters on the event loop's thread); now ~4 µs on that thread
(each bucket's sums kept as a list in column order), the rest SQLite's own work in
aiosqlite's thread.

Buckets are UTC hours and days. Latency figures count only results that got an
answer (no error_kind): a timeout's duration is the timeout, not a latency.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select

from upstate.domain import latency
from upstate.domain.enums import Status
from upstate.store._sql import DriverStatement, upsert_insert
from upstate.store.db import Db
from upstate.store.results import ResultRow
from upstate.store.tables import HISTOGRAM_COLUMNS, rollups

_COUNTERS = ("count", "up", "degraded", "down", "latency_count", "latency_sum")


class Period(StrEnum):
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class Rollup:
    """Sums over some buckets: counts by status and the latency histogram.

    `count` holds every result; maintenance, unknown and paused ones are in no other counter.
    """

    count: int = 0
    up: int = 0
    degraded: int = 0
    down: int = 0
    latency_count: int = 0
    latency_min: float | None = None
    latency_sum: float = 0.0
    latency_max: float | None = None
    histogram: tuple[int, ...] = (0,) * latency.BUCKETS

    @property
    def latency_avg(self) -> float | None:
        return self.latency_sum / self.latency_count if self.latency_count else None

    def quantile(self, q: float) -> float | None:
        """Estimated latency quantile in ms (see upstate.domain.latency), None without data."""
        return latency.quantile(self.histogram, q, low=self.latency_min, high=self.latency_max)


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    bucket_start: datetime
    rollup: Rollup


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(at: datetime) -> datetime:
    return hour_of(at).replace(hour=0)


async def apply(db: Db, rows: Sequence[ResultRow]) -> None:
    """Add a batch of results to their hour and day rollups."""
    # Each bucket's sums are a list in the table's column order, from `count` on: the
    # upsert's row is then the key plus this list, with no per-column copying.
    hours: dict[tuple[int, str, int], list[Any]] = {}  # (monitor, region, hours since epoch)
    for row in rows:
        key = (row.monitor_id, row.region, int(row.started_at.timestamp()) // 3600)
        sums = hours.get(key)
        if sums is None:
            sums = hours[key] = _EMPTY.copy()
        sums[_COUNT] += 1
        status = row.status
        if status is _UP:
            sums[_UP_COUNT] += 1
        elif status is _DEGRADED:
            sums[_DEGRADED_COUNT] += 1
        elif status is _DOWN:
            sums[_DOWN_COUNT] += 1
        if row.error_kind is not None:
            continue
        duration = row.duration_ms
        sums[_HISTOGRAM + latency.bucket_of(duration)] += 1
        sums[_LATENCY_COUNT] += 1
        sums[_LATENCY_SUM] += duration
        low = sums[_LATENCY_MIN]
        if low is None or duration < low:
            sums[_LATENCY_MIN] = duration
        high = sums[_LATENCY_MAX]
        if high is None or duration > high:
            sums[_LATENCY_MAX] = duration
    if not hours:
        return
    days: dict[tuple[int, str, int], list[Any]] = {}
    for (monitor_id, region, hour), sums in hours.items():
        day_key = (monitor_id, region, hour // 24)
        day = days.get(day_key)
        # The usual case: one result per monitor per batch, and its day row is its hour's.
        days[day_key] = sums if day is None else _merged(day, sums)
    starts: dict[int, datetime] = {}  # a batch's rows share a few bucket starts
    values = []
    for period, step, buckets in ((_HOUR, 3600, hours), (_DAY, 86_400, days)):
        for (monitor_id, region, count), sums in buckets.items():
            seconds = count * step
            start = starts.get(seconds)
            if start is None:
                start = starts[seconds] = _epoch(seconds)
            values.append([monitor_id, region, period, start, *sums])
    # One lock order for every writer, so concurrent batches cannot deadlock.
    values.sort(key=_LOCK_ORDER)
    await _UPSERT.executemany(db, values)


async def window(
    db: Db,
    monitor_id: int,
    since: datetime,
    until: datetime,
    *,
    region: str | None = None,
) -> Rollup:
    """Sums over every bucket that overlaps [since, until), across regions unless one is named.

    Whole UTC days inside the window come from day rows, the ragged ends from hour
    rows, so the resolution is one hour and a 90-day window reads ~140 rows per region.
    """
    query = select(*_sum_columns()).where(
        rollups.c.monitor_id == monitor_id, _window_clause(since, until)
    )
    if region is not None:
        query = query.where(rollups.c.region == region)
    row = (await db.execute(query)).one()
    return _rollup(row)


async def series(
    db: Db,
    monitor_id: int,
    period: Period,
    since: datetime,
    until: datetime,
    *,
    region: str | None = None,
) -> list[SeriesPoint]:
    """One point per hour or day with data in [since, until), oldest first (for charts, bars)."""
    start = hour_of(since) if period is Period.HOUR else day_of(since)
    query = (
        select(rollups.c.bucket_start, *_sum_columns())
        .where(
            rollups.c.monitor_id == monitor_id,
            rollups.c.period == period.value,
            rollups.c.bucket_start >= start,
            rollups.c.bucket_start < until,
        )
        .group_by(rollups.c.bucket_start)
        .order_by(rollups.c.bucket_start)
    )
    if region is not None:
        query = query.where(rollups.c.region == region)
    return [SeriesPoint(row[0], _rollup(row[1:])) for row in await db.execute(query)]


# Where each sum sits in a bucket's list (the rollups columns from `count` on).
_COUNT, _UP_COUNT, _DEGRADED_COUNT, _DOWN_COUNT = 0, 1, 2, 3
_LATENCY_COUNT, _LATENCY_MIN, _LATENCY_SUM, _LATENCY_MAX, _HISTOGRAM = 4, 5, 6, 7, 8
_EMPTY: list[Any] = [0, 0, 0, 0, 0, None, 0.0, None, *(0,) * latency.BUCKETS]
_UP, _DEGRADED, _DOWN = Status.UP, Status.DEGRADED, Status.DOWN
_HOUR, _DAY = Period.HOUR.value, Period.DAY.value
_MIN_MAX = (_LATENCY_MIN, _LATENCY_MAX)


def _merged(first: list[Any], second: list[Any]) -> list[Any]:
    """The sums of two buckets' lists, as a new list."""
    merged = [
        None if index in _MIN_MAX else a + b
        for index, (a, b) in enumerate(zip(first, second, strict=True))
    ]
    lows = [low for low in (first[_LATENCY_MIN], second[_LATENCY_MIN]) if low is not None]
    highs = [high for high in (first[_LATENCY_MAX], second[_LATENCY_MAX]) if high is not None]
    merged[_LATENCY_MIN] = min(lows, default=None)
    merged[_LATENCY_MAX] = max(highs, default=None)
    return merged


def _epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@functools.cache
def _upsert(dialect: str) -> Any:
    insert = upsert_insert(dialect, rollups)
    stored, new = rollups.c, insert.excluded
    assignments: dict[str, Any] = {
        name: stored[name] + new[name] for name in (*_COUNTERS, *HISTOGRAM_COLUMNS)
    }
    assignments["latency_min"] = case(
        (or_(stored.latency_min.is_(None), new.latency_min < stored.latency_min), new.latency_min),
        else_=stored.latency_min,
    )
    assignments["latency_max"] = case(
        (or_(stored.latency_max.is_(None), new.latency_max > stored.latency_max), new.latency_max),
        else_=stored.latency_max,
    )
    return insert.on_conflict_do_update(
        index_elements=[stored.monitor_id, stored.region, stored.period, stored.bucket_start],
        set_=assignments,
    )


_UPSERT = DriverStatement(rollups, _upsert, [column.name for column in rollups.c])
_LOCK_ORDER = itemgetter(0, 1, 2, 3)  # monitor, region, period, bucket start


def _window_clause(since: datetime, until: datetime) -> ColumnElement[bool]:
    first_hour = hour_of(since)
    first_day = day_of(since)
    if first_day < first_hour:
        first_day += timedelta(days=1)
    last_day = day_of(until)
    ranges = [(Period.HOUR, first_hour, until)]
    if first_day < last_day:
        ranges = [
            (Period.HOUR, first_hour, first_day),
            (Period.DAY, first_day, last_day),
            (Period.HOUR, last_day, until),
        ]
    clauses = [
        and_(
            rollups.c.period == period.value,
            rollups.c.bucket_start >= low,
            rollups.c.bucket_start < high,
        )
        for period, low, high in ranges
        if low < high
    ]
    return or_(false(), *clauses)


def _sum_columns() -> list[ColumnElement[Any]]:
    c = rollups.c
    return [
        func.coalesce(func.sum(c["count"]), 0),
        func.coalesce(func.sum(c.up), 0),
        func.coalesce(func.sum(c.degraded), 0),
        func.coalesce(func.sum(c.down), 0),
        func.coalesce(func.sum(c.latency_count), 0),
        func.min(c.latency_min),
        func.coalesce(func.sum(c.latency_sum), 0.0),
        func.max(c.latency_max),
        *(func.coalesce(func.sum(c[name]), 0) for name in HISTOGRAM_COLUMNS),
    ]


def _rollup(row: Sequence[Any]) -> Rollup:
    return Rollup(
        count=int(row[0]),
        up=int(row[1]),
        degraded=int(row[2]),
        down=int(row[3]),
        latency_count=int(row[4]),
        latency_min=row[5],
        latency_sum=float(row[6]),
        latency_max=row[7],
        histogram=tuple(int(value) for value in row[8:]),
    )
