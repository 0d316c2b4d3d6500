from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.db import TestDatabase
from tests.store.helpers import NOW, add_monitor
from upstate.domain.enums import Status
from upstate.store import pings, results, retention, rollups
from upstate.store.pings import Ping, PingKind
from upstate.store.results import ResultRow
from upstate.store.rollups import Period
from upstate.store.tables import pings as pings_table
from upstate.store.tables import results as results_table
from upstate.store.tables import rollups as rollups_table


async def count(session: AsyncSession, table: object) -> int:
    return int((await session.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_it_deletes_old_results_in_chunks(db: TestDatabase) -> None:
    async with db.sessions() as session:
        a = await add_monitor(session, "a")
        b = await add_monitor(session, "b")
        rows = [
            ResultRow(monitor.id, "local", NOW - timedelta(hours=h), Status.UP, 1.0)
            for monitor in (a, b)
            for h in range(30)
        ]
        await results.insert_many(session, rows)
        await session.commit()
    cutoff = NOW - timedelta(hours=9, minutes=30)  # keeps hours 0..9 of each monitor
    chunks = []
    async with db.sessions() as session:
        while deleted := await retention.delete_results_before(session, cutoff, limit=7):
            chunks.append(deleted)
            await session.commit()
        await session.commit()
        assert chunks == [7] * 5 + [5]
        assert await count(session, results_table) == 20
        kept = (await results.page(session, a.id, limit=100)).items
        assert min(r.started_at for r in kept) == NOW - timedelta(hours=9)


async def test_it_deletes_old_pings(session: AsyncSession) -> None:
    monitor = await add_monitor(session, "backup")
    for day in range(4):
        await pings.add(session, Ping(monitor.id, NOW - timedelta(days=day), PingKind.SUCCESS))
    assert await retention.delete_pings_before(session, NOW - timedelta(days=1, hours=1)) == 2
    assert await count(session, pings_table) == 2


async def test_it_deletes_rollups_older_than_the_cutoff(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    old = NOW - retention.ROLLUP_RETENTION - timedelta(days=1)
    await rollups.apply(
        session,
        [ResultRow(monitor.id, "local", at, Status.UP, 5.0) for at in (old, NOW)],
    )
    assert await count(session, rollups_table) == 4
    cutoff = NOW - retention.ROLLUP_RETENTION
    assert await retention.delete_rollups_before(session, cutoff, period=Period.HOUR) == 1
    assert await retention.delete_rollups_before(session, cutoff) == 1
    assert await count(session, rollups_table) == 2


async def test_it_finds_old_rows_in_one_statement_however_many_monitors(
    session: AsyncSession,
) -> None:
    from sqlalchemy import event

    for n in range(50):
        await add_monitor(session, f"many-{n}")
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sync_engine = session.get_bind()
    event.listen(sync_engine, "before_cursor_execute", seen)
    try:
        assert await retention.delete_results_before(session, NOW, limit=100) == 0
        assert await retention.delete_pings_before(session, NOW, limit=100) == 0
    finally:
        event.remove(sync_engine, "before_cursor_execute", seen)
    assert [s.split()[0].upper() for s in statements] == ["DELETE", "DELETE"]
