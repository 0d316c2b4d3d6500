"""Maintenance windows as code and through the API, their status now, and their notices.

- `sync_config` makes the stored config windows those of the file. A config window has
  no key of its own, so its id is derived from its title ("cfg-" + 12 hex digits of
  sha256(title, n-th window with that title)): editing a window's times or monitors
  keeps its id, and so its notice memory (no second "scheduled" for a moved window).
  Windows that left the file are deleted.
- The API creates, edits (JSON merge patch of the same fields as the file) and deletes
  windows it owns; config windows are read-only there (Conflict: edit the file). A PATCH
  may also set `status`: `verifying` (the work is done and being checked; monitors stay in
  maintenance) or `completed` (ended early: the end moves to now; a window that has not
  started is cancelled instead). Only one-off windows take either.
- `due` is what the maintenance loop calls: the notices that fell due and were never
  written, each remembered (maintenance_notices) and handed to the notifier in the same
  transaction, so a restart or a second process tells nobody twice. Each window is asked
  from its latest written notice (or its creation), at most `CATCH_UP` back.

Status is never stored: domain.maintenance derives it from the clock. Nothing here
commits: the request or the loop does.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate.config.maintenance import Maintenance
from upstate.config.models import UpstateConfig
from upstate.domain.durations import format_duration
from upstate.domain.maintenance import (
    MaintenanceNotice,
    MaintenanceStatus,
    MaintenanceWindow,
    due_notices,
    occurrence,
    status_at,
)
from upstate.errors import ConfigError, Conflict, NotFound, UsageError
from upstate.services.monitor_input import issue, issues_of
from upstate.services.notifier import Notifier
from upstate.store import maintenance as store
from upstate.store import monitors as monitor_store
from upstate.store.db import IMMEDIATE, Db
from upstate.store.maintenance import Fingerprint, MaintenanceRecord, MaintenanceSource

logger = logging.getLogger(__name__)

CONFIG_PREFIX = "cfg-"
CATCH_UP = timedelta(days=1)  # notices older than this, missed while down, stay unsaid
_TICK = timedelta(microseconds=1)
Sessions = async_sessionmaker[AsyncSession]
_HAND_STATUSES = (MaintenanceStatus.VERIFYING, MaintenanceStatus.COMPLETED)

__all__ = ["Fingerprint", "MaintenanceSource", "MaintenanceView", "SyncReport"]


@dataclass(frozen=True, slots=True)
class SyncReport:
    """Window ids, sorted, by what a sync did to them."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    """A window as the API shows it: its definition, and its status at the moment asked.

    `occurrence_start`/`occurrence_end` are the occurrence in progress, else the next
    one (none once a one-off window is over or cancelled)."""

    id: str
    title: str
    description: str | None
    source: MaintenanceSource
    monitors: tuple[str, ...]
    start: datetime | None  # one-off
    end: datetime | None
    schedule: str | None  # recurring
    duration_s: float | None
    timezone: str
    status: MaintenanceStatus
    cancelled: bool
    verifying_at: datetime | None
    occurrence_start: datetime | None
    occurrence_end: datetime | None
    created_at: datetime
    updated_at: datetime


# --- the config file -----------------------------------------------------------------------


def config_id(title: str, n: int = 1) -> str:
    """The stable id of the n-th config window titled `title` (counted from 1)."""
    digest = hashlib.sha256(f"{title}\n{n}".encode()).hexdigest()
    return f"{CONFIG_PREFIX}{digest[:12]}"


async def sync_config(session: Db, config: UpstateConfig, now: datetime) -> SyncReport:
    """Make the stored config windows those of `config`."""
    stored = {
        record.id: record
        for record in await store.list_windows(session, source=MaintenanceSource.CONFIG)
    }
    seen: dict[str, int] = {}
    wanted: dict[str, MaintenanceWindow] = {}
    for index, model in enumerate(config.maintenance):
        seen[model.title] = seen.get(model.title, 0) + 1
        key = config_id(model.title, seen[model.title])
        record = stored.get(key)
        created_at = record.window.created_at if record is not None else now
        wanted[key] = _window(model, key, created_at, f"maintenance[{index}]")
    created, updated, unchanged = [], [], []
    for key, window in wanted.items():
        record = stored.get(key)
        if record is None:
            await store.insert_window(session, window, MaintenanceSource.CONFIG, now)
            created.append(key)
        elif record.window != window or record.cancelled:
            await store.update_window(session, window, now)
            updated.append(key)
        else:
            unchanged.append(key)
    removed = sorted(key for key in stored if key not in wanted)
    for key in removed:
        await store.delete_window(session, key)
    report = SyncReport(
        tuple(sorted(created)), tuple(sorted(updated)), tuple(removed), tuple(sorted(unchanged))
    )
    logger.info(
        "config maintenance synced created=%d updated=%d removed=%d unchanged=%d",
        len(report.created),
        len(report.updated),
        len(report.removed),
        len(report.unchanged),
    )
    return report


# --- what the loop reads -------------------------------------------------------------------


async def load_windows(session: Db) -> list[MaintenanceWindow]:
    """Every window that may still put monitors in maintenance (cancelled ones aside)."""
    return [r.window for r in await store.list_windows(session, include_cancelled=False)]


async def fingerprint(session: Db) -> Fingerprint:
    """Changes whenever a window is added, edited or removed (poll it, then load)."""
    return await store.fingerprint(session)


async def due(
    session: Db, notifier: Notifier, now: datetime, *, since: datetime | None = None
) -> list[MaintenanceNotice]:
    """The notices due by `now` and never written: each is remembered and queued through
    `notifier` in this session's transaction. `since` bounds how far back to look
    (default `now - CATCH_UP`)."""
    horizon = since if since is not None else now - CATCH_UP
    last = await store.last_notices(session)
    written = []
    for window in await load_windows(session):
        start = max(horizon, last.get(window.key, window.created_at - _TICK))
        for notice in due_notices(window, start, now):
            if await store.add_notice(session, notice):
                await notifier.maintenance_notice(session, notice, now, window=window)
                written.append(notice)
    if written:
        logger.info("maintenance notices written count=%d", len(written))
    return written


async def changed_windows(
    sessions: Sessions, known: Fingerprint | None
) -> tuple[Fingerprint, list[MaintenanceWindow] | None]:
    """The table's fingerprint, and its windows when it differs from `known` (else None):
    what the loop polls, one small query when nothing changed."""
    async with sessions() as session:
        now_known = await store.fingerprint(session)
        if now_known == known:
            return now_known, None
        return now_known, await load_windows(session)


async def write_due(
    sessions: Sessions, notifier: Notifier, now: datetime
) -> list[MaintenanceNotice]:
    """`due` in a transaction of its own (the loop's job), committed; delivery woken."""
    async with sessions() as session:
        await session.connection(execution_options=IMMEDIATE)
        written = await due(session, notifier, now)
        await session.commit()
    if written:
        notifier.wake()
    return written


# --- the API -------------------------------------------------------------------------------


async def list_views(session: Db, now: datetime) -> list[MaintenanceView]:
    return [view_of(record, now) for record in await store.list_windows(session)]


async def get_view(session: Db, window_id: str, now: datetime) -> MaintenanceView:
    return view_of(await _get(session, window_id), now)


async def create(session: Db, body: Mapping[str, Any], now: datetime) -> MaintenanceView:
    """A window from the API; `body` has the fields of a window in the config file."""
    model = _model(body)
    await _check_monitors(session, model.monitors)
    window = _window(model, store.new_id(), now, "")
    await store.insert_window(session, window, MaintenanceSource.API, now)
    logger.info("maintenance window created id=%s", window.key)
    record = await _get(session, window.key)
    return view_of(record, now)


async def patch(
    session: Db,
    window_id: str,
    changes: Mapping[str, Any],
    now: datetime,
    *,
    config_name: str = "the config file",
) -> MaintenanceView:
    """A JSON merge patch of an API window's fields, and/or `status` set by hand."""
    record = await _get(session, window_id)
    if record.source is MaintenanceSource.CONFIG:
        raise Conflict(_read_only(window_id, config_name))
    fields = {k: v for k, v in changes.items() if k != "status"}
    window = record.window
    if fields:
        model = _model(_merged(window, fields))
        await _check_monitors(session, model.monitors)
        window = _window(model, window.key, window.created_at, "")
    cancelled = record.cancelled
    if "status" in changes:
        window, cancelled = await _by_hand(session, window, changes["status"], now)
    await store.update_window(session, window, now, cancelled=cancelled)
    return view_of(await _get(session, window_id), now)


async def delete(session: Db, window_id: str, *, config_name: str = "the config file") -> None:
    record = await _get(session, window_id)
    if record.source is MaintenanceSource.CONFIG:
        raise Conflict(_read_only(window_id, config_name))
    await store.delete_window(session, window_id)


def view_of(record: MaintenanceRecord, now: datetime) -> MaintenanceView:
    window = record.window
    if record.cancelled:
        status, current = MaintenanceStatus.COMPLETED, None
    else:
        status, current = status_at(window, now), occurrence(window, now)
    return MaintenanceView(
        id=window.key,
        title=window.title,
        description=window.description,
        source=record.source,
        monitors=window.monitors,
        start=None if window.recurring else window.start,
        end=None if window.recurring else window.ends,
        schedule=window.schedule,
        duration_s=window.duration if window.recurring else None,
        timezone=window.timezone,
        status=status,
        cancelled=record.cancelled,
        verifying_at=window.verifying_at,
        occurrence_start=current[0] if current else None,
        occurrence_end=current[1] if current else None,
        created_at=window.created_at,
        updated_at=record.updated_at,
    )


# --- helpers -------------------------------------------------------------------------------


async def _get(session: Db, window_id: str) -> MaintenanceRecord:
    record = await store.get(session, window_id)
    if record is None:
        raise NotFound(f"no maintenance window has the id {window_id!r}")
    return record


def _read_only(window_id: str, config_name: str) -> str:
    return f"maintenance window '{window_id}' is defined in {config_name}; edit the file instead"


def _model(body: Mapping[str, Any]) -> Maintenance:
    if not isinstance(body, Mapping):
        raise ConfigError([issue("", "expected a JSON object")])
    try:
        return Maintenance.model_validate(dict(body))
    except ValidationError as exc:
        raise ConfigError(issues_of(exc, Maintenance, body)) from None


def _window(model: Maintenance, key: str, created_at: datetime, where: str) -> MaintenanceWindow:
    """The domain window of a validated model; one-off windows always carry their end."""
    try:
        window = MaintenanceWindow(
            key=key,
            title=model.title,
            description=model.description,
            monitors=tuple(model.monitors),
            created_at=created_at,
            schedule=model.schedule,
            duration=model.duration,
            start=model.start,
            end=model.end,
            timezone=model.timezone,
        )
    except ValueError as exc:
        raise ConfigError([issue(where, str(exc))]) from None
    if not window.recurring and window.duration is not None:
        window = replace(window, end=window.end, duration=None)
    return window


async def _check_monitors(session: Db, keys: tuple[str, ...]) -> None:
    known = {record.key for record in await monitor_store.list_all(session)}
    issues = [
        issue(f"monitors[{i}]", f"no monitor has the key '{key}'")
        for i, key in enumerate(keys)
        if key not in known
    ]
    if issues:
        raise ConfigError(issues)


def _definition(window: MaintenanceWindow) -> dict[str, Any]:
    """The window in the config file's language (what a merge patch applies to)."""
    data: dict[str, Any] = {
        "title": window.title,
        "monitors": list(window.monitors),
        "timezone": window.timezone,
    }
    if window.description is not None:
        data["description"] = window.description
    if window.recurring:
        data["schedule"] = window.schedule
        data["duration"] = _duration_text(window.duration or 0)
    else:
        assert window.start is not None
        data["start"] = window.start.isoformat()
        data["end"] = window.ends.isoformat()
    return data


def _merged(window: MaintenanceWindow, changes: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 on the flat definition; naming one form's fields drops the other form's."""
    base = _definition(window)
    if changes.get("schedule") is not None:
        base.pop("start", None)
        base.pop("end", None)
    if changes.get("start") is not None and window.recurring:
        base.pop("schedule", None)
        base.pop("duration", None)
    if "duration" in changes and "end" not in changes and "schedule" not in base:
        base.pop("end", None)
    if "end" in changes and "duration" not in changes:
        base.pop("duration", None)
    for name, value in changes.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


async def _by_hand(
    session: Db, window: MaintenanceWindow, wanted: Any, now: datetime
) -> tuple[MaintenanceWindow, bool]:
    """`verifying` or `completed` set by a person; returns the window and `cancelled`."""
    try:
        status = MaintenanceStatus(wanted)
    except ValueError:
        status = None
    if status not in _HAND_STATUSES:
        raise UsageError("status may be set to 'verifying' or 'completed' only")
    if window.recurring:
        raise UsageError(
            "verifying and ending early are for one-off windows; delete a recurring one"
        )
    current = status_at(window, now)
    if current is MaintenanceStatus.COMPLETED:
        raise Conflict("this maintenance window is already completed")
    if status is MaintenanceStatus.COMPLETED:
        if current is MaintenanceStatus.SCHEDULED:
            return window, True  # never started: cancelled
        # Never before a notice already written (see domain.maintenance: due_notices).
        last = (await store.last_notices(session)).get(window.key)
        end = max(now, last + _TICK) if last is not None else now
        return replace(window, end=max(end, window.first + _TICK)), False
    if not store.supports_verifying():
        raise UsageError("this database cannot record 'verifying' yet (upgrade it)")
    if current is not MaintenanceStatus.IN_PROGRESS:
        raise Conflict("only a window in progress can be verified")
    return replace(window, verifying_at=now), False


def _duration_text(seconds: float) -> str:
    if float(seconds).is_integer():
        return format_duration(seconds)
    return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"
