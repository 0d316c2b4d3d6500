"""The result writer on a real database (SQLite and PostgreSQL), outages included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from tests.scheduler.helpers import NOW, add_monitor, count, eventually, outage, outcome, row
from upstate.domain.enums import Status
from upstate.scheduler.writer import BATCH_ROWS, FLUSH_EVERY_S, ResultWriter
from upstate.services.pipeline import Ping, PingKind
from upstate.store import rollups as rollups_store
from upstate.store import states
from upstate.store.tables import pings, results, rollups, status_changes


def clock() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def writers() -> AsyncIterator[Callable[..., ResultWriter]]:
    made: list[ResultWriter] = []

    def make(sessions, **options) -> ResultWriter:
        writer = ResultWriter(sessions, clock, **options)
        writer.start()
        made.append(writer)
        return writer

    yield make
    for writer in made:
        await writer.stop(attempts=1)


async def test_it_writes_a_batch_as_soon_as_500_rows_wait(db: TestDatabase, writers) -> None:
    monitor = await add_monitor(db, "api")
    writer = writers(db.sessions, flush_every=60.0)
    assert BATCH_ROWS == 500
    for n in range(499):
        writer.add(outcome(monitor.id, n))
    await asyncio.sleep(0.15)
    assert await count(db, results) == 0
    writer.add(outcome(monitor.id, 499))
    await eventually(lambda: count(db, results), 1.0)
    assert await count(db, results) == 500
    # One hour bucket, and the day's (rebuilt in the same batch: the clock is past it).
    assert await count(db, rollups) == 2
    assert writer.flushes == 1


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_it_writes_what_waits_every_second(db: TestDatabase, writers) -> None:
    monitor = await add_monitor(db, "api")
    writer = writers(db.sessions)
    assert FLUSH_EVERY_S == 1.0
    await asyncio.sleep(0.1)
    writer.add(outcome(monitor.id))
    await asyncio.sleep(0.5)
    assert await count(db, results) == 0
    await eventually(lambda: count(db, results), 1.0)
    async with db.sessions() as session:
        stored = await states.get_state(session, monitor.id)
    assert stored is not None
    assert stored.status is Status.UP
    assert stored.last_checked_at == NOW


async def test_it_buffers_through_an_outage_and_writes_when_it_ends(
    db: TestDatabase, writers, tmp_path: Path
) -> None:
    monitor = await add_monitor(db, "api")
    sessions = outage(db, tmp_path)
    writer = writers(sessions, flush_every=0.05, max_backoff=0.1)
    try:
        sessions.down = True
        writer.add(outcome(monitor.id, 0, change=(Status.UNKNOWN, Status.DOWN)))
        for n in range(1, 30):
            writer.add(outcome(monitor.id, n))
        await eventually(lambda: not writer.database_ok)
        assert writer.last_error
        assert writer.buffered == 30
        assert writer.dropped == 0
        calls = sessions.calls
        await asyncio.sleep(0.3)
        assert 1 <= sessions.calls - calls <= 6  # retried, backing off, not spinning
        sessions.down = False
        await eventually(lambda: writer.database_ok)
        assert writer.buffered == 0
        assert writer.last_error is None
        assert await count(db, results) == 30
        assert await count(db, status_changes) == 1
    finally:
        await sessions.engine.dispose()


async def test_it_drops_the_oldest_results_when_full_but_never_a_status_change(
    db: TestDatabase, writers, tmp_path: Path
) -> None:
    monitor = await add_monitor(db, "api")
    sessions = outage(db, tmp_path)
    writer = writers(sessions, flush_every=0.05, max_backoff=0.1, capacity=10)
    try:
        sessions.down = True
        for n in range(25):
            change = (Status.UP, Status.DOWN) if n % 5 == 0 else None
            writer.add(outcome(monitor.id, n, change=change))
        await eventually(lambda: not writer.database_ok)
        assert (writer.buffered, writer.dropped) == (10, 15)
        sessions.down = False
        await eventually(lambda: writer.database_ok and writer.pending == 0)
        async with db.sessions() as session:
            kept = (await session.execute(select(results.c.started_at))).scalars().all()
        assert sorted(kept) == [outcome(monitor.id, n).row.started_at for n in range(15, 25)]  # type: ignore[union-attr]
        assert await count(db, status_changes) == 5  # every one of them, dropped rows or not
    finally:
        await sessions.engine.dispose()


async def test_it_writes_everything_pending_when_stopped(db: TestDatabase) -> None:
    monitor = await add_monitor(db, "cron", kind="push", period="1h", grace="5m")
    writer = ResultWriter(db.sessions, clock, flush_every=60.0)
    writer.start()
    for n in range(7):
        writer.add(outcome(monitor.id, n))
    writer.add_ping(Ping(monitor_id=monitor.id, at=NOW, kind=PingKind.SUCCESS, body="ok"))
    await writer.stop()
    assert not writer.alive
    assert await count(db, results) == 7
    assert await count(db, pings) == 1
    assert writer.pending == 0


async def test_it_keeps_only_the_newest_state_of_each_monitor(db: TestDatabase) -> None:
    a = await add_monitor(db, "a")
    b = await add_monitor(db, "b")
    writer = ResultWriter(db.sessions, clock)
    for n in range(5):
        writer.add(outcome(a.id, n))
    writer.add(outcome(b.id, 100, change=(Status.UP, Status.DOWN)))
    assert writer.pending == 5 + 1 + 2 + 1  # results, changes, and two states
    writer.forget(b.id)  # deleted: its state is not written
    assert await writer.flush()
    async with db.sessions() as session:
        stored = await states.list_states(session)
    assert set(stored) == {a.id}
    assert stored[a.id].last_checked_at == outcome(a.id, 4).checked_at


async def test_it_keeps_status_changes_when_the_database_refuses_a_result(
    db: TestDatabase,
) -> None:
    monitor = await add_monitor(db, "api")
    writer = ResultWriter(db.sessions, clock)
    refused = outcome(monitor.id, 0, change=(Status.UP, Status.DOWN))
    assert refused.row is not None
    too_long = replace(refused, row=replace(refused.row, region="r" * 200))  # 64 at most
    writer.add(too_long)
    writer.add(outcome(monitor.id, 1))
    assert await writer.flush()
    assert await count(db, status_changes) == 1
    if db.kind == "postgresql":  # SQLite does not enforce VARCHAR lengths
        assert writer.rejected == 2  # the batch's two results
        assert await count(db, results) == 0


async def test_it_bounds_the_states_written_in_one_transaction(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("upstate.scheduler.writer.MAX_ROWS_PER_TRANSACTION", 2)
    monitors = [await add_monitor(db, f"m{n}") for n in range(5)]
    writer = ResultWriter(db.sessions, clock)
    for monitor in monitors:
        writer.add(outcome(monitor.id))
    assert await writer.flush()
    async with db.sessions() as session:
        assert len(await states.list_states(session)) == 2
    assert await count(db, results) == 2
    while writer.pending:
        assert await writer.flush()
    async with db.sessions() as session:
        assert len(await states.list_states(session)) == 5


async def test_it_closes_the_day_before_at_its_first_flush_and_at_each_new_day(
    db: TestDatabase,
) -> None:
    monitor = await add_monitor(db, "api")
    today = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    async with db.sessions() as session:  # written by an earlier run, the day before
        await rollups_store.apply(session, [row(monitor.id, at=today - timedelta(hours=2))], today)
        await session.commit()
    now = NOW
    writer = ResultWriter(db.sessions, lambda: now)

    async def day_rows() -> list[tuple[datetime, int]]:
        async with db.sessions() as session:
            query = select(rollups.c.bucket_start, rollups.c["count"]).where(
                rollups.c.period == "day"
            )
            return [tuple(found) for found in await session.execute(query)]

    writer.add(outcome(monitor.id))
    assert await writer.flush()
    assert await day_rows() == [(today - timedelta(days=1), 1)]
    now = NOW + timedelta(hours=1)
    writer.add(outcome(monitor.id, 3600))
    assert await writer.flush()  # the same day: nothing to close
    async with db.sessions() as session:
        await session.execute(rollups.delete().where(rollups.c.period == "day"))
        await session.commit()
    writer.add(outcome(monitor.id, 3660))
    assert await writer.flush()
    assert await day_rows() == []
    now = NOW + timedelta(days=1)
    writer.add(outcome(monitor.id, 86_400))
    assert await writer.flush()
    assert await day_rows() == [(today, 3)]
