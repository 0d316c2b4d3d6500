from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from tests.scheduler.helpers import NOW, add_monitor, count, delete_monitor, row
from upstate.domain.enums import Status
from upstate.domain.push import PushState
from upstate.domain.status import MonitorState, RegionResult
from upstate.services.pipeline import ChangeRow, Ping, PingKind
from upstate.services.results import Batch, StateUpdate, purge, state_json, write_batch
from upstate.services.runtime import PUSH_KEY
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


TEXTS = ("", "HTTP 200", 'say "hi"\\', "tab\tnew\nline\x00", "été ✓ 🚀", "\u2028")
DECIDED = (Status.UP, Status.DEGRADED, Status.DOWN)


def random_time(rng: random.Random) -> datetime:
    at = NOW + timedelta(seconds=rng.randrange(-(10**6), 10**6), microseconds=rng.choice((0, 1, 5)))
    return at.astimezone(rng.choice((UTC, timezone(timedelta(hours=-3, minutes=-30)))))


def random_state(rng: random.Random) -> MonitorState:
    regions = tuple(
        RegionResult(
            rng.choice(("local", "eu-wést", 'a"b')),
            rng.choice(DECIDED),
            random_time(rng),
            rng.choice(TEXTS),
        )
        for _ in range(rng.randrange(4))
    )
    return MonitorState(
        status=rng.choice(list(Status)),
        since=rng.choice((None, random_time(rng))),
        failures=rng.randrange(100),
        successes=rng.randrange(100_000),
        regions=regions,
        changes=tuple(random_time(rng) for _ in range(rng.randrange(4))),
        flapping=rng.random() < 0.5,
        paused=rng.random() < 0.5,
        in_maintenance=rng.random() < 0.5,
        underlying=rng.choice((Status.UNKNOWN, *DECIDED)),
        unhealthy=rng.randrange(10),
        healthy=rng.randrange(10),
        reason=rng.choice(TEXTS),
    )


def random_push(rng: random.Random) -> PushState | None:
    if rng.random() < 0.5:
        return None
    return PushState(
        created_at=random_time(rng),
        last_ping_at=rng.choice((None, random_time(rng))),
        last_ping_kind=rng.choice((None, *PingKind)),
        last_exit_status=rng.choice((None, 0, 255)),
        started_at=rng.choice((None, random_time(rng))),
        last_duration_ms=rng.choice((None, 0.0, 1.25, 1e-7, 123456.789)),
    )


def test_state_json_is_the_text_json_dumps_writes_for_to_dict() -> None:
    rng = random.Random(20261123)
    states = [MonitorState(), *(random_state(rng) for _ in range(500))]
    for state in states:
        push = random_push(rng)
        expected = state.to_dict()
        if push is not None:
            expected[PUSH_KEY] = push.to_dict()
        assert state_json(state, push) == json.dumps(expected)


async def test_it_stores_each_state_as_to_dict_with_its_push_memory(db: TestDatabase) -> None:
    api = await add_monitor(db, "api")
    cron = await add_monitor(db, "cron", kind="push", period="1h", grace="1m")
    rng = random.Random(3)
    state, memory = random_state(rng), PushState(created_at=NOW, last_ping_at=NOW)
    older = MonitorState(status=Status.DOWN, since=NOW, underlying=Status.DOWN)
    batch = Batch(
        states=[
            StateUpdate(api.id, older, NOW),
            StateUpdate(cron.id, MonitorState(), None, memory),
            StateUpdate(api.id, state, NOW + timedelta(seconds=1)),  # the newest wins
        ]
    )
    await write_batch(db.sessions, batch, now=NOW)
    async with db.sessions() as session:
        stored = {i: await states.get_state(session, i) for i in (api.id, cron.id)}
    api_state, cron_state = stored[api.id], stored[cron.id]
    assert api_state is not None
    assert cron_state is not None
    assert api_state.state == state.to_dict()
    assert (api_state.status, api_state.since) == (state.status, state.since or NOW)
    assert api_state.last_checked_at == NOW + timedelta(seconds=1)
    assert cron_state.state == {**MonitorState().to_dict(), PUSH_KEY: memory.to_dict()}
    assert (cron_state.since, cron_state.last_checked_at, cron_state.updated_at) == (
        NOW,
        None,
        NOW,
    )


async def test_it_closes_the_day_before_the_batch_and_rebuilds_the_days_of_late_rows(
    db: TestDatabase,
) -> None:
    api = await add_monitor(db, "api")
    yesterday = datetime(2026, 3, 13, tzinfo=UTC)
    written_then = [row(api.id, 60.0 * n, at=yesterday) for n in range(3)]
    await write_batch(db.sessions, Batch(results=written_then), now=yesterday + timedelta(hours=1))
    assert await count(db, rollups, period=Period.DAY.value) == 0  # the day is not over
    late = [row(api.id, 0.0, Status.DOWN, at=yesterday + timedelta(hours=23))]
    await write_batch(db.sessions, Batch(results=late), now=NOW, close_days=True)
    async with db.sessions() as session:
        day = (
            await session.execute(
                select(rollups.c.bucket_start, rollups.c["count"], rollups.c.down).where(
                    rollups.c.period == Period.DAY.value
                )
            )
        ).all()
    assert day == [(yesterday, 4, 1)]
