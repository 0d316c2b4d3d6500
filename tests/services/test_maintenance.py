from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.db import TestDatabase
from tests.services.test_incidents import RecordingNotifier, outbox_keys
from tests.store.helpers import add_monitor
from upstate.config.loader import load_config_text
from upstate.domain.maintenance import MaintenanceStatus, NoticeKind
from upstate.errors import ConfigError, Conflict, NotFound, UsageError
from upstate.services import maintenance
from upstate.services.maintenance import MaintenanceSource
from upstate.store import maintenance as store

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FILE = """
monitors:
  - {key: api, kind: http, url: "http://127.0.0.1:9/"}
  - {key: db, kind: tcp, host: 127.0.0.1, port: 9}
maintenance:
  - title: Upgrade
    monitors: [api]
    start: 2026-03-14T14:00:00Z
    end: 2026-03-14T15:00:00Z
  - title: Backup
    monitors: [db]
    schedule: "0 3 * * *"
    duration: 30m
    timezone: Europe/Paris
  - title: Backup
    monitors: [db]
    schedule: "0 4 * * *"
    duration: 30m
"""
WINDOW: dict[str, Any] = {
    "title": "Database upgrade",
    "monitors": ["api"],
    "start": "2026-03-14T14:00:00Z",
    "end": "2026-03-14T15:00:00Z",
}


@pytest.fixture
async def monitors(session: AsyncSession) -> None:
    await add_monitor(session, "api")
    await add_monitor(session, "db")


async def test_config_windows_get_stable_ids_and_follow_the_file(session: AsyncSession) -> None:
    report = await maintenance.sync_config(session, load_config_text(FILE), NOW)
    upgrade = maintenance.config_id("Upgrade")
    backups = [maintenance.config_id("Backup", 1), maintenance.config_id("Backup", 2)]
    assert upgrade.startswith("cfg-")
    assert len(upgrade) == 16
    assert backups[0] != backups[1]
    assert report.created == tuple(sorted([upgrade, *backups]))
    again = await maintenance.sync_config(session, load_config_text(FILE), NOW + HOUR)
    assert not again.changed
    assert len(again.unchanged) == 3

    edited = FILE.replace("15:00:00Z", "16:00:00Z").replace('"0 4 * * *"', '"0 5 * * *"')
    edited = (
        edited[: edited.index("  - title: Backup")] + edited[edited.rindex("  - title: Backup") :]
    )
    report = await maintenance.sync_config(session, load_config_text(edited), NOW + HOUR)
    # The first "Backup" left: the other is now the first of its title, and takes its id.
    assert report.updated == tuple(sorted([upgrade, backups[0]]))
    assert report.removed == (backups[1],)
    stored = await store.get(session, upgrade)
    assert stored is not None
    assert stored.window.ends == datetime(2026, 3, 14, 16, 0, tzinfo=UTC)
    assert stored.window.created_at == NOW  # kept across edits: no second "scheduled"
    assert stored.source is MaintenanceSource.CONFIG
    survivor = await store.get(session, backups[0])
    assert survivor is not None
    assert survivor.window.schedule == "0 5 * * *"


async def test_the_api_creates_reads_and_lists_windows(
    session: AsyncSession, monitors: None
) -> None:
    view = await maintenance.create(session, WINDOW, NOW)
    assert view.source is MaintenanceSource.API
    assert view.status is MaintenanceStatus.SCHEDULED
    assert view.start == datetime(2026, 3, 14, 14, 0, tzinfo=UTC)
    assert (view.occurrence_start, view.occurrence_end) == (view.start, view.end)
    assert view.monitors == ("api",)
    during = await maintenance.get_view(session, view.id, NOW + 2.5 * HOUR)
    assert during.status is MaintenanceStatus.IN_PROGRESS
    after = await maintenance.get_view(session, view.id, NOW + 4 * HOUR)
    assert after.status is MaintenanceStatus.COMPLETED
    assert after.occurrence_start is None
    nightly = await maintenance.create(
        session,
        {"title": "Nightly", "monitors": ["db"], "schedule": "0 3 * * *", "duration": "30m"},
        NOW,
    )
    assert nightly.duration_s == 1800.0
    assert nightly.occurrence_start == datetime(2026, 3, 15, 3, 0, tzinfo=UTC)
    listed = await maintenance.list_views(session, NOW)
    assert sorted(v.id for v in listed) == sorted([view.id, nightly.id])
    with pytest.raises(NotFound):
        await maintenance.get_view(session, "nope", NOW)


async def test_the_api_refuses_bad_windows_naming_the_field(
    session: AsyncSession, monitors: None
) -> None:
    with pytest.raises(ConfigError) as unknown:
        await maintenance.create(session, {**WINDOW, "monitors": ["api", "ghost"]}, NOW)
    assert [(i.field, i.message) for i in unknown.value.issues] == [
        ("monitors[1]", "no monitor has the key 'ghost'")
    ]
    with pytest.raises(ConfigError) as both:
        await maintenance.create(session, {**WINDOW, "schedule": "0 3 * * *"}, NOW)
    assert "not both" in str(both.value)
    with pytest.raises(ConfigError) as backwards:
        await maintenance.create(session, {**WINDOW, "end": "2026-03-14T13:00:00Z"}, NOW)
    assert "after" in str(backwards.value)
    with pytest.raises(ConfigError) as misspelt:
        await maintenance.create(session, {**WINDOW, "titel": "x"}, NOW)
    assert misspelt.value.issues[0].field == "titel"
    assert await maintenance.list_views(session, NOW) == []


async def test_config_windows_are_read_only_through_the_api(
    session: AsyncSession, monitors: None
) -> None:
    await maintenance.sync_config(session, load_config_text(FILE), NOW)
    upgrade = maintenance.config_id("Upgrade")
    with pytest.raises(Conflict, match=r"upstate\.yaml; edit the file instead"):
        await maintenance.patch(session, upgrade, {"title": "x"}, NOW, config_name="upstate.yaml")
    with pytest.raises(Conflict, match="edit the file instead"):
        await maintenance.delete(session, upgrade)
    assert await store.get(session, upgrade) is not None


async def test_a_patch_merges_and_may_switch_forms(session: AsyncSession, monitors: None) -> None:
    view = await maintenance.create(session, WINDOW, NOW)
    longer = await maintenance.patch(session, view.id, {"duration": "3h"}, NOW)
    assert longer.end == datetime(2026, 3, 14, 17, 0, tzinfo=UTC)
    assert longer.title == WINDOW["title"]
    described = await maintenance.patch(session, view.id, {"description": "v17"}, NOW)
    assert described.description == "v17"
    assert (
        await maintenance.patch(session, view.id, {"description": None}, NOW)
    ).description is None
    weekly = await maintenance.patch(
        session, view.id, {"schedule": "0 2 * * 0", "duration": "1h"}, NOW
    )
    assert (weekly.schedule, weekly.start, weekly.end) == ("0 2 * * 0", None, None)
    back = await maintenance.patch(
        session, view.id, {"start": WINDOW["start"], "end": WINDOW["end"]}, NOW
    )
    assert (back.schedule, back.start) == (None, datetime(2026, 3, 14, 14, 0, tzinfo=UTC))
    with pytest.raises(ConfigError):
        await maintenance.patch(session, view.id, {"monitors": []}, NOW)
    await maintenance.delete(session, view.id)
    with pytest.raises(NotFound):
        await maintenance.delete(session, view.id)


async def test_it_ends_early_cancels_and_verifies_by_hand(
    session: AsyncSession, monitors: None
) -> None:
    view = await maintenance.create(session, WINDOW, NOW)
    with pytest.raises(UsageError, match="verifying"):
        await maintenance.patch(session, view.id, {"status": "in_progress"}, NOW)
    during = NOW + 2.5 * HOUR
    if store.supports_verifying():
        checking = await maintenance.patch(session, view.id, {"status": "verifying"}, during)
        assert checking.status is MaintenanceStatus.VERIFYING
    else:
        with pytest.raises(UsageError, match="cannot record 'verifying'"):
            await maintenance.patch(session, view.id, {"status": "verifying"}, during)
    ended = await maintenance.patch(session, view.id, {"status": "completed"}, during)
    assert ended.status is MaintenanceStatus.COMPLETED
    assert ended.end == during
    assert ended.cancelled is False
    with pytest.raises(Conflict, match="already completed"):
        await maintenance.patch(session, view.id, {"status": "completed"}, during + HOUR)

    early = await maintenance.create(session, WINDOW, NOW)
    cancelled = await maintenance.patch(session, early.id, {"status": "completed"}, NOW)
    assert cancelled.cancelled is True
    assert cancelled.status is MaintenanceStatus.COMPLETED
    assert early.id not in {w.key for w in await maintenance.load_windows(session)}

    nightly = await maintenance.create(
        session,
        {"title": "Nightly", "monitors": ["db"], "schedule": "0 3 * * *", "duration": "30m"},
        NOW,
    )
    with pytest.raises(UsageError, match="one-off"):
        await maintenance.patch(session, nightly.id, {"status": "completed"}, NOW)


async def test_due_tells_each_notice_once_in_the_callers_transaction(db: TestDatabase) -> None:
    notifier = RecordingNotifier()
    async with db.sessions() as session:
        await add_monitor(session, "api")
        view = await maintenance.create(session, WINDOW, NOW)
        await session.commit()

    async def due_at(at: datetime, *, commit: bool = True) -> list[NoticeKind]:
        async with db.sessions() as session:
            written = await maintenance.due(session, notifier, at)
            if commit:
                await session.commit()
            else:
                await session.rollback()
        return [n.kind for n in written]

    assert await due_at(NOW, commit=False) == [NoticeKind.SCHEDULED]
    assert await due_at(NOW) == [NoticeKind.SCHEDULED]  # the rollback forgot it
    assert await due_at(NOW + timedelta(seconds=1)) == []
    assert await due_at(NOW + HOUR) == [NoticeKind.REMINDER]
    assert await due_at(NOW + 2 * HOUR) == [NoticeKind.STARTED]
    assert await due_at(NOW + 2 * HOUR) == []
    assert await due_at(NOW + 5 * HOUR) == [NoticeKind.COMPLETED]
    assert await due_at(NOW + 6 * HOUR) == []
    kinds = [n.kind for n in notifier.notices]
    assert kinds == [NoticeKind.SCHEDULED, *NoticeKind]
    async with db.sessions() as session:
        keys = await outbox_keys(session)
    assert sorted(keys) == sorted(f"test:{n.key}" for n in notifier.notices[1:])
    assert all(n.window == view.id for n in notifier.notices)


async def test_due_catches_up_after_a_pause_without_stale_reminders(
    session: AsyncSession, monitors: None
) -> None:
    notifier = RecordingNotifier()
    view = await maintenance.create(session, WINDOW, NOW)
    written = await maintenance.due(session, notifier, NOW + 2 * HOUR + timedelta(seconds=5))
    assert [n.kind for n in written] == [NoticeKind.SCHEDULED, NoticeKind.STARTED]
    ended = await maintenance.patch(
        session, view.id, {"status": "completed"}, NOW + 2 * HOUR + timedelta(seconds=1)
    )
    assert ended.end == NOW + 2 * HOUR + timedelta(seconds=1)
    final = await maintenance.due(session, notifier, NOW + 2 * HOUR + timedelta(seconds=6))
    assert [(n.kind, n.at) for n in final] == [(NoticeKind.COMPLETED, ended.end)]
    old = await maintenance.create(session, WINDOW, NOW - 3 * HOUR)
    late = await maintenance.due(session, notifier, NOW + 2.5 * HOUR, since=NOW + 1.5 * HOUR)
    assert [(n.window, n.kind) for n in late] == [(old.id, NoticeKind.STARTED)]
