"""Maintenance windows and the notices already written for them.

A row is a domain.maintenance.MaintenanceWindow whose `key` is the row id, plus who owns
it (`source`: the config file or the API) and whether it was cancelled. A one-off window
is stored with its start and its end (a duration is turned into the end); a recurring
one with its schedule, duration and time zone. Ending a window early by hand moves its
end (`ends_at`), so the stored end is always when it ended or will end.

`maintenance_notices` remembers every notice written, by its stable key: `add_notice`
inserts or does nothing, and says which, so two processes (or a restart) racing on the
same notice tell subscribers once. Nothing here commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import RowMapping

from upstate.domain.maintenance import MaintenanceNotice, MaintenanceWindow
from upstate.store._sql import rowcount, upsert_insert
from upstate.store.db import Db
from upstate.store.tables import maintenance, maintenance_notices

_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Set by hand while the work is checked; stored once the schema has the column.
_HAS_VERIFYING = "verifying_at" in maintenance.c


class MaintenanceSource(StrEnum):
    """Who owns a window: the config file (read-only in the API) or the API."""

    CONFIG = "config"
    API = "api"


@dataclass(frozen=True, slots=True)
class MaintenanceRecord:
    window: MaintenanceWindow
    source: MaintenanceSource
    cancelled: bool
    updated_at: datetime

    @property
    def id(self) -> str:
        return self.window.key


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What changes whenever a window is added, edited or removed: cheap to poll."""

    count: int
    updated_at: datetime | None


def new_id() -> str:
    """A fresh id for an API window: 12 lowercase letters and digits (no '-', so never
    one of the config's "cfg-…" ids)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def supports_verifying() -> bool:
    return _HAS_VERIFYING


async def insert_window(
    db: Db, window: MaintenanceWindow, source: MaintenanceSource, now: datetime
) -> None:
    await db.execute(
        insert(maintenance).values(
            id=window.key,
            source=source.value,
            cancelled=False,
            created_at=window.created_at,
            updated_at=now,
            **_values(window),
        )
    )


async def update_window(
    db: Db, window: MaintenanceWindow, now: datetime, *, cancelled: bool = False
) -> bool:
    """Rewrite a window's definition (its source and creation time stay); False if absent."""
    result = await db.execute(
        update(maintenance)
        .where(maintenance.c.id == window.key)
        .values(cancelled=cancelled, updated_at=now, **_values(window))
    )
    return bool(rowcount(result))


async def get(db: Db, window_id: str) -> MaintenanceRecord | None:
    row = (await db.execute(select(maintenance).where(maintenance.c.id == window_id))).first()
    return None if row is None else _record(row._mapping)


async def list_windows(
    db: Db, *, source: MaintenanceSource | None = None, include_cancelled: bool = True
) -> list[MaintenanceRecord]:
    """Every window, oldest first (by creation, then id)."""
    statement = select(maintenance).order_by(maintenance.c.created_at, maintenance.c.id)
    if source is not None:
        statement = statement.where(maintenance.c.source == source.value)
    if not include_cancelled:
        statement = statement.where(maintenance.c.cancelled.is_(False))
    return [_record(row._mapping) for row in await db.execute(statement)]


async def delete_window(db: Db, window_id: str) -> bool:
    """Its notice memory goes with it (ON DELETE CASCADE)."""
    await db.execute(
        delete(maintenance_notices).where(maintenance_notices.c.maintenance_id == window_id)
    )
    result = await db.execute(delete(maintenance).where(maintenance.c.id == window_id))
    return bool(rowcount(result))


async def fingerprint(db: Db) -> Fingerprint:
    row = (await db.execute(select(func.count(), func.max(maintenance.c.updated_at)))).one()
    # func.max loses the column type on some dialects: give it its zone back.
    return Fingerprint(int(row[0]), _aware(row[1]))


# --- notices -------------------------------------------------------------------------------


async def add_notice(db: Db, notice: MaintenanceNotice) -> bool:
    """Remember a notice; False when it was already written (by us or another process)."""
    statement = upsert_insert(db, maintenance_notices).on_conflict_do_nothing(
        index_elements=[maintenance_notices.c.maintenance_id, maintenance_notices.c.key]
    )
    result = await db.execute(
        statement.values(maintenance_id=notice.window, key=notice.key, at=notice.at)
    )
    return bool(rowcount(result))


async def has_notice(db: Db, window_id: str, key: str) -> bool:
    row = (
        await db.execute(
            select(maintenance_notices.c.key).where(
                maintenance_notices.c.maintenance_id == window_id,
                maintenance_notices.c.key == key,
            )
        )
    ).first()
    return row is not None


async def last_notices(db: Db) -> dict[str, datetime]:
    """The moment of the latest notice written for each window that has one."""
    statement = select(
        maintenance_notices.c.maintenance_id, func.max(maintenance_notices.c.at)
    ).group_by(maintenance_notices.c.maintenance_id)
    found: dict[str, datetime] = {}
    for window_id, at in await db.execute(statement):
        moment = _aware(at)
        if moment is not None:
            found[window_id] = moment
    return found


# --- rows <-> domain -----------------------------------------------------------------------


def _values(window: MaintenanceWindow) -> dict[str, Any]:
    recurring = window.recurring
    values: dict[str, Any] = {
        "title": window.title,
        "description": window.description,
        "monitors": list(window.monitors),
        "starts_at": None if recurring else window.start,
        "ends_at": None if recurring else window.ends,
        "schedule": window.schedule,
        "duration_s": window.duration if recurring else None,
        "timezone": window.timezone,
    }
    if _HAS_VERIFYING:
        values["verifying_at"] = window.verifying_at
    return values


def _record(row: RowMapping) -> MaintenanceRecord:
    window = MaintenanceWindow(
        key=row["id"],
        title=row["title"],
        description=row["description"],
        monitors=tuple(row["monitors"] or ()),
        created_at=row["created_at"],
        schedule=row["schedule"],
        duration=row["duration_s"],
        start=row["starts_at"],
        end=row["ends_at"],
        timezone=row["timezone"],
        verifying_at=row.get("verifying_at"),
    )
    return MaintenanceRecord(
        window=window,
        source=MaintenanceSource(row["source"]),
        cancelled=row["cancelled"],
        updated_at=row["updated_at"],
    )


def _aware(value: Any) -> datetime | None:
    """An aggregate's datetime: SQLite may hand back text or a naive datetime, in UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
