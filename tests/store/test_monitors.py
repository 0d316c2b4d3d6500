from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.db import TestDatabase
from tests.store.helpers import NOW, add_monitor, draft
from upstate.domain.enums import MonitorKind, Status
from upstate.store import monitors, results, states
from upstate.store.monitors import MonitorSource
from upstate.store.results import ResultRow
from upstate.store.states import StateRecord


async def test_it_inserts_a_monitor_and_reads_it_back_by_key(session: AsyncSession) -> None:
    created = await monitors.upsert(
        session,
        draft("api", critical=True, tags=("prod", "api"), regions=("local", "eu-west")),
        now=NOW,
    )
    found = await monitors.get_by_key(session, "api")
    assert found == created
    assert found is not None
    assert found.kind is MonitorKind.HTTP
    assert found.source is MonitorSource.CONFIG
    assert found.definition == {"url": "https://api.example.com/health", "headers": {"X-A": "1"}}
    assert found.tags == ("prod", "api")
    assert found.regions == ("local", "eu-west")
    assert found.critical is True
    assert found.created_at == found.updated_at == NOW
    assert await monitors.get(session, created.id) == created


async def test_it_updates_by_key_keeping_id_and_creation_time(session: AsyncSession) -> None:
    first = await add_monitor(session, "api")
    later = NOW + timedelta(hours=1)
    second = await monitors.upsert(
        session, draft("api", name="Public API", interval_s=60.0, paused=True), now=later
    )
    assert second.id == first.id
    assert second.created_at == NOW
    assert second.updated_at == later
    assert (second.name, second.interval_s, second.paused) == ("Public API", 60.0, True)
    assert len(await monitors.list_all(session)) == 1


async def test_it_finds_push_monitors_by_token(session: AsyncSession) -> None:
    push = await add_monitor(session, "backup", kind=MonitorKind.PUSH, ping_token="tok-123")
    await add_monitor(session, "api")
    assert await monitors.get_by_token(session, "tok-123") == push
    assert await monitors.get_by_token(session, "nope") is None


async def test_it_refuses_a_token_used_by_another_monitor(session: AsyncSession) -> None:
    await add_monitor(session, "a", ping_token="same")
    with pytest.raises(IntegrityError):
        await add_monitor(session, "b", ping_token="same")


async def test_it_lists_monitors_by_key_and_filters_by_source(session: AsyncSession) -> None:
    await add_monitor(session, "web")
    await add_monitor(session, "api", source=MonitorSource.API)
    await add_monitor(session, "db")
    assert [m.key for m in await monitors.list_all(session)] == ["api", "db", "web"]
    from_api = await monitors.list_all(session, source=MonitorSource.API)
    assert [m.key for m in from_api] == ["api"]


async def test_it_pauses_and_resumes(session: AsyncSession) -> None:
    await add_monitor(session, "api")
    assert await monitors.set_paused(session, "api", True, now=NOW + timedelta(minutes=1))
    paused = await monitors.get_by_key(session, "api")
    assert paused is not None
    assert paused.paused is True
    assert paused.updated_at == NOW + timedelta(minutes=1)
    assert await monitors.set_paused(session, "api", False, now=NOW)
    assert not await monitors.set_paused(session, "ghost", True, now=NOW)


async def test_it_deletes_a_monitor_with_its_history(db: TestDatabase) -> None:
    async with db.sessions() as session:
        monitor = await add_monitor(session, "api")
        await results.insert_many(session, [ResultRow(monitor.id, "local", NOW, Status.UP, 12.0)])
        await states.put_state(
            session, StateRecord(monitor.id, Status.UP, NOW, NOW, {"fails": 0}, NOW)
        )
        await session.commit()
    async with db.sessions() as session:
        assert await monitors.delete_by_key(session, "api")
        assert not await monitors.delete_by_key(session, "api")
        await session.commit()
    async with db.sessions() as session:
        assert await monitors.get_by_key(session, "api") is None
        assert (await results.page(session, monitor.id)).items == []
        assert await states.get_state(session, monitor.id) is None


async def test_it_keeps_nothing_a_rolled_back_session_wrote(db: TestDatabase) -> None:
    async with db.sessions() as session:
        await add_monitor(session, "api")
        await session.rollback()
    async with db.sessions() as session:
        assert await monitors.list_all(session) == []
