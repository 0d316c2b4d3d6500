from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import NOW, add_monitor
from upstate.domain.enums import MonitorKind
from upstate.store import pings
from upstate.store.pings import Ping, PingKind


async def test_it_stores_a_ping_with_every_field(session: AsyncSession) -> None:
    monitor = await add_monitor(session, "backup", kind=MonitorKind.PUSH)
    ping = Ping(monitor.id, NOW, PingKind.EXIT, 3, "rsync: error\n", 1234.5, "2001:db8::1")
    ping_id = await pings.add(session, ping)
    (stored,) = await pings.recent(session, monitor.id)
    assert stored == Ping(
        monitor.id, NOW, PingKind.EXIT, 3, "rsync: error\n", 1234.5, "2001:db8::1", ping_id
    )


async def test_it_cuts_bodies_to_ten_kilobytes_without_splitting_characters(
    session: AsyncSession,
) -> None:
    monitor = await add_monitor(session, "backup", kind=MonitorKind.PUSH)
    body = "é" * 6000 + "\x00"  # 12,002 bytes of UTF-8
    await pings.add(session, Ping(monitor.id, NOW, PingKind.SUCCESS, body=body))
    (stored,) = await pings.recent(session, monitor.id)
    assert stored.body is not None
    assert stored.body == "é" * 5120
    assert len(stored.body.encode()) == 10 * 1024


async def test_it_finds_the_last_ping_of_some_kinds(session: AsyncSession) -> None:
    monitor = await add_monitor(session, "backup", kind=MonitorKind.PUSH)
    kinds = [PingKind.START, PingKind.SUCCESS, PingKind.START, PingKind.FAIL]
    for minute, kind in enumerate(kinds):
        await pings.add(session, Ping(monitor.id, NOW + timedelta(minutes=minute), kind))
    last_start = await pings.last(session, monitor.id, [PingKind.START])
    assert last_start is not None
    assert last_start.at == NOW + timedelta(minutes=2)
    newest = await pings.last(session, monitor.id)
    assert newest is not None
    assert newest.kind is PingKind.FAIL
    assert await pings.last(session, monitor.id, [PingKind.EXIT]) is None


async def test_it_pages_recent_pings(session: AsyncSession) -> None:
    monitor = await add_monitor(session, "backup", kind=MonitorKind.PUSH)
    for minute in range(5):
        await pings.add(
            session, Ping(monitor.id, NOW + timedelta(minutes=minute), PingKind.SUCCESS)
        )
    first = await pings.recent(session, monitor.id, limit=3)
    rest = await pings.recent(session, monitor.id, before=first[-1].at, limit=3)
    assert [p.at.minute - NOW.minute for p in first + rest] == [4, 3, 2, 1, 0]
