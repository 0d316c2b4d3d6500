from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from tests.scheduler.helpers import NOW, add_monitor, count, delete_monitor, row
from upstate.domain.enums import Status
from upstate.domain.status import MonitorState
from upstate.services.pipeline import ChangeRow, Ping, PingKind
from upstate.services.results import Batch, StateUpdate, purge, write_batch
from upstate.store import states
from upstate.store.rollups import Period
from upstate.store.tables import pings, results, rollups, status_changes


async def test_it_writes_results_rollups_states_changes_and_pings_together(
    db: TestDatabase,
) -> None:
    api = await add_monitor(db, "api")
    cron = await add_monitor(db, "cron", kind="push", period="1h", grace="1m")
    down = MonitorState(status=Status.DOWN, since=NOW, underlying=Status.DOWN, failures=2)
    batch = Batch(
        results=[row(api.id, n, Status.DOWN) for n in range(3)],
        states=[StateUpdate(api.id, down, NOW)],
        changes=[ChangeRow(api.id, Status.UP, Status.DOWN, NOW, "boom", region="local")],
        pings=[Ping(monitor_id=cron.id, at=NOW, kind=PingKind.START)],
    )
    written = await write_batch(db.sessions, batch, now=NOW)
    assert written is batch
    assert await count(db, results) == 3
    assert await count(db, rollups, period=Period.HOUR.value) == 1
    assert await count(db, status_changes, status="down") == 1
    assert await count(db, pings, kind="start") == 1
    async with db.sessions() as session:
        stored = await states.get_state(session, api.id)
    assert stored is not None
    assert (stored.status, stored.since, stored.last_checked_at) == (Status.DOWN, NOW, NOW)
    assert MonitorState.from_dict(stored.state) == down


async def test_it_leaves_out_rows_of_a_monitor_deleted_since_its_probe_ran(
    db: TestDatabase,
) -> None:
    kept = await add_monitor(db, "kept")
    gone = await add_monitor(db, "gone")
    await delete_monitor(db, "gone")
    batch = Batch(
        results=[row(kept.id), row(gone.id)],
        states=[StateUpdate(gone.id, MonitorState(), None)],
        changes=[ChangeRow(gone.id, Status.UP, Status.DOWN, NOW, "boom")],
    )
    written = await write_batch(db.sessions, batch, now=NOW)
    assert [r.monitor_id for r in written.results] == [kept.id]
    assert (len(written.states), len(written.changes)) == (0, 0)
    async with db.sessions() as session:
        ids = (await session.execute(select(results.c.monitor_id))).scalars().all()
    assert ids == [kept.id]


async def test_it_forgets_results_and_pings_past_retention_and_keeps_rollups(
    db: TestDatabase,
) -> None:
    api = await add_monitor(db, "api")
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [row(api.id, at=now - timedelta(days=days)) for days in (40, 31, 29, 1)]
    ping_rows = [
        Ping(monitor_id=api.id, at=now - timedelta(days=days), kind=PingKind.SUCCESS)
        for days in (45, 2)
    ]
    await write_batch(db.sessions, Batch(results=rows, pings=ping_rows), now=now)
    purged = await purge(db.sessions, now=now, keep_results=timedelta(days=30), chunk=1)
    assert (purged.results, purged.pings, purged.rollups) == (2, 1, 0)
    assert await count(db, results) == 2
    assert await count(db, pings) == 1
    assert await count(db, rollups, period=Period.DAY.value) == 4  # uptime history stays
    purged = await purge(db.sessions, now=now, keep_rollups=timedelta(days=30))
    assert purged.rollups == 4  # the two day and two hour buckets before the cutoff
