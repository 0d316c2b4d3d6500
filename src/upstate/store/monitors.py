"""Monitors: what is checked and how often, keyed by the `key` people write in config.

The definition is the monitor's settings as a dict; services encrypt secret fields
before they reach the store, which keeps it as JSON and never looks inside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import RowMapping

from upstate.domain.enums import MonitorKind
from upstate.store._sql import rowcount, upsert_insert
from upstate.store.db import Db
from upstate.store.tables import monitors


class MonitorSource(StrEnum):
    """Who owns a monitor: the config file (read-only in the API) or the API."""

    CONFIG = "config"
    API = "api"


@dataclass(frozen=True, slots=True)
class MonitorDraft:
    """A monitor as written to the store; `upsert` matches on `key`."""

    key: str
    name: str
    kind: MonitorKind
    source: MonitorSource
    definition: Mapping[str, Any]
    interval_s: float
    critical: bool = False
    tags: Sequence[str] = ()
    regions: Sequence[str] = ("local",)
    paused: bool = False
    ping_token: str | None = None


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    id: int
    key: str
    name: str
    kind: MonitorKind
    source: MonitorSource
    definition: dict[str, Any]
    interval_s: float
    critical: bool
    tags: tuple[str, ...]
    regions: tuple[str, ...]
    paused: bool
    ping_token: str | None
    created_at: datetime
    updated_at: datetime


async def get(db: Db, monitor_id: int) -> MonitorRecord | None:
    row = (await db.execute(select(monitors).where(monitors.c.id == monitor_id))).mappings()
    return _record_or_none(row.first())


async def get_by_key(db: Db, key: str) -> MonitorRecord | None:
    row = (await db.execute(select(monitors).where(monitors.c.key == key))).mappings()
    return _record_or_none(row.first())


async def get_by_token(db: Db, ping_token: str) -> MonitorRecord | None:
    query = select(monitors).where(monitors.c.ping_token == ping_token)
    return _record_or_none((await db.execute(query)).mappings().first())


async def list_all(db: Db, *, source: MonitorSource | None = None) -> list[MonitorRecord]:
    """Every monitor ordered by key; only those of one source when asked."""
    query = select(monitors).order_by(monitors.c.key)
    if source is not None:
        query = query.where(monitors.c.source == source.value)
    return [_record(row) for row in (await db.execute(query)).mappings()]


async def get_many(
    db: Db, *, ids: Iterable[int] | None = None, keys: Iterable[str] | None = None
) -> list[MonitorRecord]:
    """The monitors with these ids or keys (or both), in no particular order."""
    wanted_ids, wanted_keys = sorted(set(ids or ())), sorted(set(keys or ()))
    if not wanted_ids and not wanted_keys:
        return []
    query = select(monitors).where(
        or_(monitors.c.id.in_(wanted_ids), monitors.c.key.in_(wanted_keys))
    )
    return [_record(row) for row in (await db.execute(query)).mappings()]


async def upsert(db: Db, draft: MonitorDraft, *, now: datetime) -> MonitorRecord:
    """Insert the monitor, or overwrite every field of the one with the same key.

    The id and created_at of an existing monitor are kept, so its history stays attached.
    """
    values = {
        "key": draft.key,
        "name": draft.name,
        "kind": draft.kind.value,
        "source": draft.source.value,
        "definition": dict(draft.definition),
        "interval_s": draft.interval_s,
        "critical": draft.critical,
        "tags": list(draft.tags),
        "regions": list(draft.regions),
        "paused": draft.paused,
        "ping_token": draft.ping_token,
        "updated_at": now,
    }
    insert = upsert_insert(db, monitors).values(created_at=now, **values)
    statement = insert.on_conflict_do_update(
        index_elements=[monitors.c.key],
        set_={name: insert.excluded[name] for name in values if name != "key"},
    ).returning(*monitors.c)
    return _record((await db.execute(statement)).mappings().one())


async def delete_by_key(db: Db, key: str) -> bool:
    """Delete a monitor and (by cascade) its results, changes, rollups and pings."""
    result = await db.execute(delete(monitors).where(monitors.c.key == key))
    return rowcount(result) > 0


async def set_paused(db: Db, key: str, paused: bool, *, now: datetime) -> bool:
    """Pause or resume; False when no monitor has that key."""
    statement = update(monitors).where(monitors.c.key == key).values(paused=paused, updated_at=now)
    result = await db.execute(statement)
    return rowcount(result) > 0


def _record_or_none(row: RowMapping | None) -> MonitorRecord | None:
    return None if row is None else _record(row)


def _record(row: RowMapping) -> MonitorRecord:
    return MonitorRecord(
        id=row["id"],
        key=row["key"],
        name=row["name"],
        kind=MonitorKind(row["kind"]),
        source=MonitorSource(row["source"]),
        definition=row["definition"],
        interval_s=row["interval_s"],
        critical=row["critical"],
        tags=tuple(row["tags"]),
        regions=tuple(row["regions"]),
        paused=row["paused"],
        ping_token=row["ping_token"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
