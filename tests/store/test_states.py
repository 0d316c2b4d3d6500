from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import NOW, add_monitor
from upstate.domain.enums import Status
from upstate.store import states
from upstate.store.states import StateRecord
from upstate.store.tables import monitor_state


async def test_it_stores_and_replaces_the_evaluator_state(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    assert await states.get_state(session, monitor.id) is None
    first = StateRecord(monitor.id, Status.UP, NOW, NOW, {"fails": 0, "regions": {}}, NOW)
    await states.put_state(session, first)
    assert await states.get_state(session, monitor.id) == first

    later = NOW + timedelta(minutes=5)
    second = StateRecord(monitor.id, Status.DOWN, later, later, {"fails": 3}, later)
    await states.put_state(session, second)
    stored = await states.get_state(session, monitor.id)
    assert stored == second
    assert stored is not None
    assert stored.status is Status.DOWN


async def test_it_loads_every_state_at_once(session: AsyncSession) -> None:
    a = await add_monitor(session, "a")
    b = await add_monitor(session, "b")
    await add_monitor(session, "never-checked")
    for monitor in (a, b):
        await states.put_state(session, StateRecord(monitor.id, Status.UP, NOW, None, {}, NOW))
    loaded = await states.list_states(session)
    assert set(loaded) == {a.id, b.id}
    assert loaded[a.id].last_checked_at is None


async def test_it_refuses_state_for_a_missing_monitor(session: AsyncSession) -> None:
    with pytest.raises(IntegrityError):
        await states.put_state(session, StateRecord(999_999, Status.UP, NOW, NOW, {}, NOW))


async def test_it_puts_many_states_at_once_keeping_the_last_per_monitor(
    session: AsyncSession,
) -> None:
    a = await add_monitor(session, "many-a")
    b = await add_monitor(session, "many-b")
    await states.put_many(
        session,
        [
            StateRecord(a.id, Status.UP, NOW, NOW, {}, NOW),
            StateRecord(b.id, Status.DOWN, NOW, NOW, {"fails": 2}, NOW),
            StateRecord(a.id, Status.DEGRADED, NOW, NOW, {"slow": True}, NOW),
        ],
    )
    await states.put_many(session, [StateRecord(b.id, Status.UP, NOW, NOW, {}, NOW)])
    await states.put_many(session, [])
    loaded = await states.list_states(session)
    assert loaded[a.id].status is Status.DEGRADED
    assert loaded[a.id].state == {"slow": True}
    assert loaded[b.id].status is Status.UP


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.asyncpg.dialect()])
def test_json_text_binds_as_core_would_bind_the_dict(dialect: Dialect) -> None:
    # put_rows takes the state as JSON text and hands it to the driver as it is: what
    # Core's bind processor makes of the dict on either database.
    column_type = monitor_state.c.state.type.dialect_impl(dialect)
    processor = column_type.bind_processor(dialect)
    assert processor is not None
    value = {"status": "up", "reason": 'été "ok"', "regions": [{"at": None}], "n": 1.5}
    assert processor(value) == json.dumps(value)
