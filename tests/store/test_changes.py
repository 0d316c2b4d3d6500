from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import NOW, add_monitor
from upstate.domain.enums import Status
from upstate.store import changes
from upstate.store.changes import StatusChange

STEPS = [
    (Status.UNKNOWN, Status.UP, 0),
    (Status.UP, Status.DOWN, 10),
    (Status.DOWN, Status.UP, 20),
    (Status.UP, Status.DEGRADED, 30),
]


async def add_history(session: AsyncSession, monitor_id: int) -> list[int]:
    return [
        await changes.add(
            session,
            StatusChange(monitor_id, previous, status, NOW + timedelta(minutes=m), f"step {m}"),
        )
        for previous, status, m in STEPS
    ]


async def test_it_records_a_change_with_every_field(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    change = StatusChange(
        monitor.id, Status.UP, Status.DOWN, NOW, "3 of 3 regions down", flapping=True, region="eu"
    )
    change_id = await changes.add(session, change)
    (stored,) = await changes.list_changes(session, monitor.id)
    assert stored.id == change_id
    assert stored == StatusChange(**{**_fields(change), "id": change_id})


async def test_it_lists_a_window_in_either_order(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    other = await add_monitor(session, "other")
    await add_history(session, monitor.id)
    await add_history(session, other.id)
    newest = await changes.list_changes(session, monitor.id)
    assert [c.status for c in newest] == [Status.DEGRADED, Status.UP, Status.DOWN, Status.UP]
    window = await changes.list_changes(
        session,
        monitor.id,
        since=NOW + timedelta(minutes=10),
        until=NOW + timedelta(minutes=30),
        newest_first=False,
    )
    assert [c.reason for c in window] == ["step 10", "step 20"]
    assert len(await changes.list_changes(session, monitor.id, limit=2)) == 2


async def test_it_tells_the_status_in_force_before_a_moment(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    await add_history(session, monitor.id)
    assert await changes.last_before(session, monitor.id, NOW) is None
    at_change = await changes.last_before(session, monitor.id, NOW + timedelta(minutes=10))
    assert at_change is not None
    assert at_change.status is Status.UP  # the change at exactly 10 belongs to the window
    between = await changes.last_before(session, monitor.id, NOW + timedelta(minutes=15))
    assert between is not None
    assert between.status is Status.DOWN


def _fields(change: StatusChange) -> dict[str, object]:
    return {name: getattr(change, name) for name in StatusChange.__dataclass_fields__}
