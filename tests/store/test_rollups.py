from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import add_monitor
from upstate.domain import latency
from upstate.domain.enums import ErrorKind, Status
from upstate.store import rollups, series
from upstate.store.results import ResultRow
from upstate.store.rollups import Period, Rollup
from upstate.store.tables import rollups as rollups_table

T0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)


def row(
    monitor_id: int, at: datetime, ms: float, status: Status = Status.UP, **kw: object
) -> ResultRow:
    return ResultRow(monitor_id, str(kw.pop("region", "local")), at, status, ms, **kw)  # type: ignore[arg-type]


def expected(rows: list[ResultRow]) -> Rollup:
    answered = [r.duration_ms for r in rows if r.error_kind is None]
    return Rollup(
        count=len(rows),
        up=sum(r.status is Status.UP for r in rows),
        degraded=sum(r.status is Status.DEGRADED for r in rows),
        down=sum(r.status is Status.DOWN for r in rows),
        latency_count=len(answered),
        latency_min=min(answered, default=None),
        latency_sum=sum(answered),
        latency_max=max(answered, default=None),
        histogram=tuple(latency.histogram(answered)),
    )


async def test_it_adds_batches_into_hour_and_day_buckets(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    first = [
        row(monitor.id, T0 + timedelta(minutes=5), 20.0),
        row(monitor.id, T0 + timedelta(minutes=50), 400.0, Status.DEGRADED),
        row(monitor.id, T0 + timedelta(hours=1, minutes=1), 5.0),
    ]
    second = [
        row(monitor.id, T0 + timedelta(minutes=30), 2.0),
        row(
            monitor.id,
            T0 + timedelta(minutes=31),
            10_000.0,
            Status.DOWN,
            error_kind=ErrorKind.TIMEOUT,
        ),
    ]
    await rollups.apply(session, first)
    await rollups.apply(session, second)

    hours = await rollups.series(session, monitor.id, Period.HOUR, T0, T0 + timedelta(days=1))
    assert [p.bucket_start for p in hours] == [T0, T0 + timedelta(hours=1)]
    first_hour = hours[0].rollup
    assert (first_hour.count, first_hour.up, first_hour.degraded, first_hour.down) == (4, 2, 1, 1)
    assert (first_hour.latency_count, first_hour.latency_min, first_hour.latency_max) == (
        3,
        2.0,
        400.0,
    )
    assert first_hour.latency_sum == 422.0
    assert sum(first_hour.histogram) == 3
    assert first_hour.histogram[latency.bucket_of(400.0)] == 1

    days = await rollups.series(session, monitor.id, Period.DAY, T0, T0 + timedelta(days=1))
    assert len(days) == 1
    assert days[0].rollup.count == 5
    assert (days[0].rollup.latency_min, days[0].rollup.latency_max) == (2.0, 400.0)


async def test_it_fills_min_and_max_once_latencies_arrive(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    failed = row(monitor.id, T0, 10_000.0, Status.DOWN, error_kind=ErrorKind.TIMEOUT)
    await rollups.apply(session, [failed])
    empty = await rollups.window(session, monitor.id, T0, T0 + timedelta(hours=1))
    assert (empty.count, empty.latency_min, empty.latency_max, empty.latency_avg) == (
        1,
        None,
        None,
        None,
    )
    assert empty.quantile(0.5) is None
    await rollups.apply(session, [row(monitor.id, T0, 30.0), row(monitor.id, T0, 70.0)])
    await rollups.apply(session, [failed, row(monitor.id, T0, 50.0)])
    filled = await rollups.window(session, monitor.id, T0, T0 + timedelta(hours=1))
    assert (filled.count, filled.latency_min, filled.latency_max) == (5, 30.0, 70.0)
    assert filled.latency_avg == 50.0


async def test_it_sums_windows_from_days_and_ragged_hours(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    other = await add_monitor(session, "other")
    rng = random.Random(7)
    statuses = [Status.UP] * 8 + [Status.DEGRADED, Status.DOWN]
    rows = [
        row(
            monitor.id,
            T0 + timedelta(seconds=rng.uniform(0, 4 * 86_400)),
            rng.lognormvariate(4, 1.2),
            rng.choice(statuses),
            region=rng.choice(["local", "eu"]),
        )
        for _ in range(600)
    ]
    for start in range(0, len(rows), 97):
        await rollups.apply(session, rows[start : start + 97])
    await rollups.apply(session, [row(other.id, T0 + timedelta(hours=30), 1.0)])

    windows = [
        (T0, T0 + timedelta(days=4)),  # whole days only
        (T0 + timedelta(hours=5, minutes=20), T0 + timedelta(days=2, hours=7, minutes=1)),
        (T0 + timedelta(hours=25), T0 + timedelta(hours=30)),  # inside one day
        (T0 + timedelta(days=1), T0 + timedelta(days=3, hours=1)),
        (T0 - timedelta(days=9), T0 - timedelta(days=8)),  # nothing there
    ]
    for since, until in windows:
        for region in (None, "eu"):
            overlapping = [
                r
                for r in rows
                # every bucket overlapping [since, until): resolution is one hour
                if rollups.hour_of(since) <= rollups.hour_of(r.started_at) < until
                and region in (None, r.region)
            ]
            got = await rollups.window(session, monitor.id, since, until, region=region)
            want = expected(overlapping)
            assert abs(got.latency_sum - want.latency_sum) < 1e-6 * max(1.0, want.latency_sum)
            assert got == Rollup(**{**_fields(want), "latency_sum": got.latency_sum}), (
                since,
                until,
            )


async def test_it_folds_one_batch_into_each_hour_and_day_exactly(session: AsyncSession) -> None:
    monitors = [await add_monitor(session, key) for key in ("a", "b")]
    rng = random.Random(5)
    rows = []
    for monitor in monitors:
        for region in ("local", "eu"):
            for hour in (0, 1, 5, 23, 24, 30):  # two days; hour 5 of "eu" only fails
                failing = region == "eu" and hour == 5
                for _ in range(rng.randrange(1, 4)):
                    at = T0 + timedelta(hours=hour, seconds=rng.uniform(0, 3599))
                    kind = ErrorKind.TIMEOUT if failing or rng.random() < 0.2 else None
                    status = Status.DOWN if kind else rng.choice(list(Status))
                    ms = rng.lognormvariate(4, 1.5)
                    rows.append(row(monitor.id, at, ms, status, region=region, error_kind=kind))
    rng.shuffle(rows)
    await rollups.apply(session, rows)

    until = T0 + timedelta(days=2)
    for monitor in monitors:
        for region in ("local", "eu"):
            mine = [r for r in rows if (r.monitor_id, r.region) == (monitor.id, region)]
            for period, start_of in ((Period.HOUR, rollups.hour_of), (Period.DAY, rollups.day_of)):
                points = await rollups.series(session, monitor.id, period, T0, until, region=region)
                starts = sorted({start_of(r.started_at) for r in mine})
                assert [p.bucket_start for p in points] == starts
                for point in points:
                    want = expected(
                        [r for r in mine if start_of(r.started_at) == point.bucket_start]
                    )
                    assert point.rollup.latency_sum == pytest.approx(want.latency_sum)
                    assert point.rollup == replace(want, latency_sum=point.rollup.latency_sum)


async def test_it_reads_whole_days_from_day_rows(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    await rollups.apply(
        session, [row(monitor.id, T0 + timedelta(hours=h), 10.0) for h in range(0, 72, 3)]
    )
    await session.execute(rollups_table.delete().where(rollups_table.c.period == "hour"))
    # The last two days of a window (days 3 and 4 here) are read from hour rows.
    whole = await rollups.window(session, monitor.id, T0, T0 + timedelta(days=5))
    assert whole.count == 24
    # Day 0 is no longer whole: it would need hour rows, and those are gone.
    ragged = await rollups.window(
        session, monitor.id, T0 + timedelta(hours=1), T0 + timedelta(days=5)
    )
    assert ragged.count == 16
    # Nor is day 1 when the window ends on day 2.
    recent = await rollups.window(session, monitor.id, T0, T0 + timedelta(days=2, hours=1))
    assert recent.count == 8


async def test_it_estimates_quantiles_within_a_bucket(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    rng = random.Random(11)
    values = [rng.lognormvariate(4.5, 0.8) for _ in range(2000)]
    await rollups.apply(
        session, [row(monitor.id, T0 + timedelta(seconds=i), v) for i, v in enumerate(values)]
    )
    summary = await rollups.window(session, monitor.id, T0, T0 + timedelta(days=1))
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        estimate = summary.quantile(q)
        assert estimate is not None
        assert abs(estimate - exact) <= (latency.RATIO - 1) * exact


def _fields(rollup: Rollup) -> dict[str, object]:
    return {name: getattr(rollup, name) for name in Rollup.__dataclass_fields__}


async def test_it_reads_what_hour_rows_hold_while_days_close_as_the_writer_closes_them(
    session: AsyncSession,
) -> None:
    """Rows over five days written the way the result writer writes them: each flush with
    its own `now`, the day before closed at the first flush of a day, and late rows of
    earlier days (an outage) after that. Every read matches sums made here by hand."""
    a, b = await add_monitor(session, "a"), await add_monitor(session, "b")
    rng = random.Random(5)
    today = T0 + timedelta(days=4)
    now = today + timedelta(hours=10, minutes=30)
    on_time = [
        row(
            monitor,
            T0 + timedelta(minutes=minute),
            rng.lognormvariate(4, 0.7),
            rng.choice([Status.UP, Status.UP, Status.DEGRADED, Status.DOWN]),
            region=rng.choice(["local", "eu"]),
        )
        for monitor in (a.id, b.id)
        for minute in range(0, 4 * 1440 + 10 * 60, 97)
    ]
    late = [  # buffered during an outage, written today
        row(a.id, T0 + timedelta(days=1, hours=5), 111.0),
        row(b.id, today - timedelta(hours=1), 222.0, Status.DOWN, error_kind=ErrorKind.TIMEOUT),
    ]
    on_time.sort(key=lambda r: r.started_at)
    closed_on = None
    for flush in on_time:
        at = flush.started_at
        if at.date() != closed_on:
            await rollups.close_days(session, at)
            closed_on = at.date()
        await rollups.apply(session, [flush], at)
    await rollups.apply(session, late, now)
    written = on_time + late
    days = await session.execute(
        select(rollups_table.c.bucket_start)
        .where(rollups_table.c.period == "day")
        .distinct()
        .order_by(rollups_table.c.bucket_start)
    )
    assert list(days.scalars()) == [T0 + timedelta(days=n) for n in range(4)]  # not today's

    def wanted(monitor: int, low: datetime, high: datetime, start_of=rollups.hour_of) -> Rollup:
        return expected(
            [r for r in written if r.monitor_id == monitor and low <= start_of(r.started_at) < high]
        )

    def same(got: Rollup, want: Rollup) -> None:
        assert got.latency_sum == pytest.approx(want.latency_sum)
        assert got == replace(want, latency_sum=got.latency_sum)

    untils = [now, today, today - timedelta(hours=3), T0 + timedelta(days=2, hours=7)]
    for until in untils:
        for since in (T0, T0 + timedelta(hours=5, minutes=20), until - timedelta(days=1)):
            for monitor in (a.id, b.id):
                got = await rollups.window(session, monitor, since, until)
                same(got, wanted(monitor, rollups.hour_of(since), until))
            for period, start_of in ((Period.HOUR, rollups.hour_of), (Period.DAY, rollups.day_of)):
                many = await series.series_many(session, [a.id, b.id], period, since, until)
                for monitor in (a.id, b.id):
                    points = await rollups.series(session, monitor, period, since, until)
                    assert [p.bucket_start for p in many[monitor]] == [
                        p.bucket_start for p in points
                    ]
                    for point, other in zip(points, many[monitor], strict=True):
                        same(other.rollup, point.rollup)
                    buckets = sorted(
                        {
                            start_of(r.started_at)
                            for r in written
                            if r.monitor_id == monitor
                            and start_of(since) <= start_of(r.started_at) < until
                        }
                    )
                    assert [point.bucket_start for point in points] == buckets
                    step = timedelta(hours=1) if period is Period.HOUR else timedelta(days=1)
                    for point in points:
                        low = point.bucket_start
                        same(point.rollup, wanted(monitor, low, low + step, start_of))


async def test_it_reads_yesterday_from_hour_rows_until_the_day_is_closed(
    session: AsyncSession,
) -> None:
    monitor = await add_monitor(session)
    yesterday = T0 + timedelta(days=1)
    rows = [row(monitor.id, yesterday + timedelta(hours=h), 10.0 + h) for h in range(24)]
    for written in rows:
        await rollups.apply(session, [written], written.started_at)
    until = yesterday + timedelta(days=1, minutes=1)  # past midnight, before the first flush
    assert await rollups.window(session, monitor.id, T0, until) == expected(rows)
    for points in (
        await rollups.series(session, monitor.id, Period.DAY, T0, until),
        (await series.series_many(session, [monitor.id], Period.DAY, T0, until))[monitor.id],
    ):
        assert points == [rollups.SeriesPoint(yesterday, expected(rows))]
    assert await rollups.close_days(session, until) == yesterday
    day_rows = await rollups.series(session, monitor.id, Period.DAY, T0, until + timedelta(days=2))
    assert day_rows == [rollups.SeriesPoint(yesterday, expected(rows))]


async def test_it_closes_the_last_day_written_however_long_ago(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    stopped = T0 + timedelta(hours=9)  # the server ran on day 0 and came back on day 5
    await rollups.apply(session, [row(monitor.id, stopped, 10.0)], stopped)
    assert await rollups.close_days(session, T0) is None  # nothing before day 0
    assert await rollups.close_days(session, T0 + timedelta(days=5, hours=1)) == T0
    days = await rollups.series(session, monitor.id, Period.DAY, T0, T0 + timedelta(days=9))
    assert [(point.bucket_start, point.rollup.count) for point in days] == [(T0, 1)]
