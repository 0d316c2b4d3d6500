from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import NOW, add_monitor
from upstate.domain.enums import Status
from upstate.store import rollups, series, states
from upstate.store.results import ResultRow
from upstate.store.rollups import Period
from upstate.store.states import StateRecord


async def test_series_many_gives_each_monitor_what_series_gives_it(
    session: AsyncSession,
) -> None:
    a, b, c = [await add_monitor(session, key) for key in ("a", "b", "c")]
    rows = [
        ResultRow(monitor.id, region, NOW - timedelta(hours=hours), Status.UP, ms)
        for monitor, region, hours, ms in (
            (a, "local", 1, 10.0),
            (a, "eu", 1, 30.0),
            (a, "local", 5, 20.0),
            (b, "local", 2, 40.0),
            (b, "local", 50, 99.0),  # before `since`
            (c, "local", 3, 70.0),
        )
    ]
    await rollups.apply(session, rows)
    since, ids = NOW - timedelta(hours=24), [a.id, b.id, c.id]
    for period in Period:
        found = await series.series_many(session, ids[:2], period, since, NOW)
        for monitor_id in ids[:2]:
            assert found[monitor_id] == await rollups.series(
                session, monitor_id, period, since, NOW
            )
        assert c.id not in found
    hours = await series.series_many(session, ids, Period.HOUR, since, NOW)
    assert [p.rollup.count for p in hours[a.id]] == [1, 2]  # summed across regions
    eu = await series.series_many(session, ids, Period.HOUR, since, NOW, region="eu")
    assert list(eu) == [a.id]
    assert eu[a.id][0].rollup.latency_sum == 30.0
    assert await series.series_many(session, [], Period.HOUR, since, NOW) == {}


async def test_series_many_reads_more_monitors_than_one_chunk(session: AsyncSession) -> None:
    monitors = [await add_monitor(session, f"m{n}") for n in range(5)]
    rows = [ResultRow(m.id, "local", NOW, Status.UP, 5.0) for m in monitors]
    await rollups.apply(session, rows)
    original, series.CHUNK = series.CHUNK, 2
    try:
        found = await series.series_many(
            session, [m.id for m in monitors], Period.DAY, NOW, NOW + timedelta(hours=1)
        )
    finally:
        series.CHUNK = original
    assert sorted(found) == sorted(m.id for m in monitors)


async def test_monitor_facts_join_each_monitor_with_its_stored_status(
    session: AsyncSession,
) -> None:
    checked = await add_monitor(session, "b", critical=True)
    await add_monitor(session, "a", paused=True)
    since = NOW - timedelta(minutes=3)
    await states.put_state(session, StateRecord(checked.id, Status.DOWN, since, NOW, {}, NOW))
    facts = await series.monitor_facts(session)
    assert [f.key for f in facts] == ["a", "b"]
    assert (facts[0].paused, facts[0].status, facts[0].since) == (True, None, None)
    assert (facts[1].critical, facts[1].status, facts[1].since) == (True, Status.DOWN, since)
    assert facts[1].id == checked.id
