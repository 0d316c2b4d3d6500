from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import NOW
from upstate.domain.maintenance import (
    MaintenanceNotice,
    MaintenanceWindow,
    NoticeKind,
)
from upstate.store import maintenance
from upstate.store.maintenance import MaintenanceSource

HOUR = timedelta(hours=1)


def one_off(key: str = "w1", **changes: object) -> MaintenanceWindow:
    values: dict[str, object] = {
        "key": key,
        "title": "Database upgrade",
        "description": "Postgres 17",
        "monitors": ("api", "db"),
        "created_at": NOW,
        "start": NOW + 2 * HOUR,
        "end": NOW + 3 * HOUR,
    }
    values.update(changes)
    return MaintenanceWindow(**values)  # type: ignore[arg-type]


def recurring(key: str = "w2") -> MaintenanceWindow:
    return MaintenanceWindow(
        key=key,
        title="Nightly backup",
        monitors=("db",),
        created_at=NOW,
        schedule="0 3 * * *",
        duration=1800.0,
        timezone="Europe/Paris",
    )


def notice(window: str, at: timedelta, kind: NoticeKind = NoticeKind.STARTED) -> MaintenanceNotice:
    return MaintenanceNotice(window, kind, NOW + at, NOW + at, NOW + at + HOUR)


async def test_it_stores_both_forms_of_window_whole(session: AsyncSession) -> None:
    await maintenance.insert_window(session, one_off(), MaintenanceSource.API, NOW)
    await maintenance.insert_window(session, recurring(), MaintenanceSource.CONFIG, NOW)
    first = await maintenance.get(session, "w1")
    assert first is not None
    assert first.window == one_off()
    assert first.source is MaintenanceSource.API
    assert first.cancelled is False
    assert first.updated_at == NOW
    second = await maintenance.get(session, "w2")
    assert second is not None
    assert second.window == recurring()
    assert second.window.cron is not None
    assert second.source is MaintenanceSource.CONFIG
    assert await maintenance.get(session, "nope") is None


async def test_it_stores_a_duration_window_by_its_end(session: AsyncSession) -> None:
    window = one_off(end=None, duration=5400.0)
    await maintenance.insert_window(session, window, MaintenanceSource.API, NOW)
    stored = await maintenance.get(session, "w1")
    assert stored is not None
    assert stored.window.ends == NOW + 2 * HOUR + timedelta(minutes=90)
    assert stored.window.duration is None


async def test_it_updates_lists_and_deletes(session: AsyncSession) -> None:
    await maintenance.insert_window(session, one_off(), MaintenanceSource.API, NOW)
    await maintenance.insert_window(
        session, recurring(), MaintenanceSource.CONFIG, NOW + timedelta(seconds=1)
    )
    later = NOW + timedelta(minutes=5)
    moved = one_off(title="Bigger upgrade", end=NOW + 4 * HOUR)
    assert await maintenance.update_window(session, moved, later, cancelled=True)
    stored = await maintenance.get(session, "w1")
    assert stored is not None
    assert stored.window == moved
    assert stored.cancelled is True
    assert stored.updated_at == later
    assert await maintenance.update_window(session, one_off("ghost"), later) is False

    assert [r.id for r in await maintenance.list_windows(session)] == ["w1", "w2"]
    configs = await maintenance.list_windows(session, source=MaintenanceSource.CONFIG)
    assert [r.id for r in configs] == ["w2"]
    live = await maintenance.list_windows(session, include_cancelled=False)
    assert [r.id for r in live] == ["w2"]

    assert await maintenance.delete_window(session, "w1") is True
    assert await maintenance.delete_window(session, "w1") is False
    assert [r.id for r in await maintenance.list_windows(session)] == ["w2"]


async def test_its_fingerprint_moves_with_every_change(session: AsyncSession) -> None:
    empty = await maintenance.fingerprint(session)
    assert empty.count == 0
    assert empty.updated_at is None
    await maintenance.insert_window(session, one_off(), MaintenanceSource.API, NOW)
    added = await maintenance.fingerprint(session)
    assert (added.count, added.updated_at) == (1, NOW)
    later = NOW + timedelta(seconds=2)
    await maintenance.update_window(session, one_off(title="Renamed"), later)
    edited = await maintenance.fingerprint(session)
    assert edited != added
    assert edited.updated_at == later
    assert await maintenance.fingerprint(session) == edited


async def test_it_remembers_each_notice_once(session: AsyncSession) -> None:
    await maintenance.insert_window(session, one_off(), MaintenanceSource.API, NOW)
    await maintenance.insert_window(session, recurring(), MaintenanceSource.API, NOW)
    started = notice("w1", 2 * HOUR)
    assert await maintenance.has_notice(session, "w1", started.key) is False
    assert await maintenance.add_notice(session, started) is True
    assert await maintenance.add_notice(session, started) is False
    assert await maintenance.has_notice(session, "w1", started.key) is True
    assert await maintenance.has_notice(session, "w2", started.key) is False
    await maintenance.add_notice(session, notice("w1", 3 * HOUR, NoticeKind.COMPLETED))
    await maintenance.add_notice(session, notice("w2", HOUR))
    assert await maintenance.last_notices(session) == {"w1": NOW + 3 * HOUR, "w2": NOW + HOUR}

    assert await maintenance.delete_window(session, "w1")
    assert await maintenance.last_notices(session) == {"w2": NOW + HOUR}


async def test_a_notice_needs_its_window(session: AsyncSession) -> None:
    with pytest.raises(IntegrityError):
        await maintenance.add_notice(session, notice("ghost", HOUR))


async def test_verifying_is_kept_when_the_schema_has_it(session: AsyncSession) -> None:
    if not maintenance.supports_verifying():
        pytest.skip("maintenance.verifying_at is not in the schema yet")
    window = replace(one_off(), verifying_at=NOW + 2 * HOUR + timedelta(minutes=30))
    await maintenance.insert_window(session, window, MaintenanceSource.API, NOW)
    stored = await maintenance.get(session, "w1")
    assert stored is not None
    assert stored.window.verifying_at == window.verifying_at


def test_new_ids_never_look_like_config_ids() -> None:
    made = {maintenance.new_id() for _ in range(50)}
    assert len(made) == 50
    assert all(len(i) == 12 and "-" not in i for i in made)
