from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fixtures.db import TestDatabase
from tests.services.test_incidents import RecordingNotifier
from tests.store.helpers import add_monitor
from upstate.domain.maintenance import NoticeKind
from upstate.scheduler.maintenance import MaintenanceLoop
from upstate.services import maintenance

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
WINDOW: dict[str, Any] = {
    "title": "Database upgrade",
    "monitors": ["api", "db"],
    "start": "2026-03-14T14:00:00Z",
    "end": "2026-03-14T15:00:00Z",
}


class Target:
    """The engine's side of the contract: remembers each set it was handed."""

    def __init__(self) -> None:
        self.calls: list[tuple[frozenset[str], datetime]] = []
        self.current: frozenset[str] = frozenset()

    def apply_maintenance(self, keys: frozenset[str], now: datetime) -> int:
        self.calls.append((keys, now))
        moved = len(keys ^ self.current)
        self.current = keys
        return moved


async def create(db: TestDatabase, body: dict[str, Any], at: datetime) -> str:
    async with db.sessions() as session:
        for key in ("api", "db"):
            await add_monitor(session, key)
        view = await maintenance.create(session, body, at)
        await session.commit()
    return view.id


def make_loop(db: TestDatabase) -> tuple[MaintenanceLoop, Target, RecordingNotifier]:
    target, notifier = Target(), RecordingNotifier()
    loop = MaintenanceLoop(db.sessions, target, notifier, lambda: NOW, poll_every=5)
    return loop, target, notifier


async def test_it_moves_monitors_in_and_out_at_the_windows_edges(db: TestDatabase) -> None:
    await create(db, WINDOW, NOW)
    loop, target, notifier = make_loop(db)
    await loop.run_once(NOW)
    assert target.calls == [(frozenset(), NOW)]
    assert [n.kind for n in notifier.notices] == [NoticeKind.SCHEDULED]
    assert loop.next_at == NOW + HOUR  # the reminder

    await loop.run_once(NOW + HOUR)
    assert [n.kind for n in notifier.notices][-1] is NoticeKind.REMINDER
    start = NOW + 2 * HOUR
    await loop.run_once(start)
    assert target.current == {"api", "db"}
    assert notifier.notices[-1].kind is NoticeKind.STARTED
    await loop.run_once(NOW + 3 * HOUR)
    assert target.current == frozenset()
    assert notifier.notices[-1].kind is NoticeKind.COMPLETED
    assert len(notifier.notices) == 4
    assert loop.next_at is None
    assert notifier.wakes == 4  # delivery woken after each commit that queued something


async def test_it_does_nothing_between_transitions_and_polls(db: TestDatabase) -> None:
    await create(db, WINDOW, NOW)
    loop, target, notifier = make_loop(db)
    await loop.run_once(NOW)
    for second in range(1, 5):
        await loop.run_once(NOW + timedelta(seconds=second))
    assert len(target.calls) == 1
    await loop.run_once(NOW + timedelta(seconds=5))  # a poll: the same set, applied again
    assert target.calls[-1] == (frozenset(), NOW + timedelta(seconds=5))
    assert len(target.calls) == 2
    assert len(notifier.notices) == 1


async def test_it_picks_up_windows_created_elsewhere_by_polling(db: TestDatabase) -> None:
    loop, target, notifier = make_loop(db)
    await loop.run_once(NOW)
    assert loop.windows == []
    during = {**WINDOW, "start": "2026-03-14T11:00:00Z"}
    window_id = await create(db, during, NOW + timedelta(seconds=1))
    await loop.run_once(NOW + timedelta(seconds=2))
    assert loop.windows == []  # not polled yet
    await loop.run_once(NOW + timedelta(seconds=5))
    assert [w.key for w in loop.windows] == [window_id]
    assert target.current == {"api", "db"}
    assert [n.kind for n in notifier.notices] == [NoticeKind.SCHEDULED, NoticeKind.STARTED]

    async with db.sessions() as session:
        await maintenance.delete(session, window_id)
        await session.commit()
    loop.reload()
    await loop.run_once(NOW + timedelta(seconds=6))  # reload(): at once, not at the poll
    assert loop.windows == []
    assert target.current == frozenset()


async def test_it_runs_as_a_task_until_stopped(db: TestDatabase) -> None:
    await create(db, WINDOW, NOW)
    target, notifier = Target(), RecordingNotifier()
    loop = MaintenanceLoop(db.sessions, target, notifier, lambda: NOW + 2.5 * HOUR, every=0.01)
    loop.start()
    try:
        async with asyncio.timeout(5):
            while not target.current:
                await asyncio.sleep(0.01)
        assert loop.alive
    finally:
        await loop.stop()
    assert not loop.alive
    assert target.current == {"api", "db"}
    assert [n.kind for n in notifier.notices] == [NoticeKind.SCHEDULED, NoticeKind.STARTED]
