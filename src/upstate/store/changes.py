"""Status changes: one row per transition, the source of uptime maths and notifications.

Uptime over [since, until) needs the status at `since` (`last_before(since)`) and every
change inside the window (`list_changes(since=…, until=…, newest_first=False)`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, insert, select
from sqlalchemy.engine import RowMapping

from upstate.domain.enums import Status
from upstate.store.db import Db
from upstate.store.tables import status_changes

MAX_LIST = 10_000


@dataclass(frozen=True, slots=True)
class StatusChange:
    monitor_id: int
    previous: Status
    status: Status
    at: datetime
    reason: str
    flapping: bool = False
    region: str | None = None  # the region whose result caused it, when one did
    id: int | None = None  # set on rows read back from the store


async def add(db: Db, change: StatusChange) -> int:
    """Record a transition; returns its id."""
    statement = (
        insert(status_changes)
        .values(
            monitor_id=change.monitor_id,
            previous=change.previous.value,
            status=change.status.value,
            at=change.at,
            reason=change.reason,
            flapping=change.flapping,
            region=change.region,
        )
        .returning(status_changes.c.id)
    )
    return int((await db.execute(statement)).scalar_one())


async def list_changes(
    db: Db,
    monitor_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    newest_first: bool = True,
) -> list[StatusChange]:
    """Changes with since <= at < until, newest first unless asked otherwise."""
    query = select(status_changes).where(status_changes.c.monitor_id == monitor_id)
    if since is not None:
        query = query.where(status_changes.c.at >= since)
    if until is not None:
        query = query.where(status_changes.c.at < until)
    if newest_first:
        query = query.order_by(status_changes.c.at.desc(), status_changes.c.id.desc())
    else:
        query = query.order_by(status_changes.c.at, status_changes.c.id)
    query = query.limit(max(1, min(limit, MAX_LIST)))
    return [_change(row) for row in (await db.execute(query)).mappings()]


async def last_before(db: Db, monitor_id: int, at: datetime) -> StatusChange | None:
    """The last change strictly before `at`: its status is the one in force just before `at`."""
    query = (
        select(status_changes)
        .where(status_changes.c.monitor_id == monitor_id, status_changes.c.at < at)
        .order_by(status_changes.c.at.desc(), status_changes.c.id.desc())
        .limit(1)
    )
    row = (await db.execute(query)).mappings().first()
    return None if row is None else _change(row)


def _change(row: RowMapping) -> StatusChange:
    return StatusChange(
        id=row["id"],
        monitor_id=row["monitor_id"],
        previous=Status(row["previous"]),
        status=Status(row["status"]),
        at=row["at"],
        reason=row["reason"],
        flapping=row["flapping"],
        region=row["region"],
    )


async def status_before_many(db: Db, monitor_ids: Sequence[int], at: datetime) -> dict[int, Status]:
    """Each monitor's status in force just before `at` (from its last change before it);
    monitors without such a change are left out. One query for all of them."""
    if not monitor_ids:
        return {}
    c = status_changes.c
    last = (
        select(c.monitor_id, func.max(c.at).label("at"))
        .where(c.monitor_id.in_(monitor_ids), c.at < at)
        .group_by(c.monitor_id)
        .subquery()
    )
    before = (
        select(c.monitor_id, c.status)
        .join(last, and_(c.monitor_id == last.c.monitor_id, c.at == last.c.at))
        .order_by(c.monitor_id, c.id)
    )
    return {monitor_id: Status(status) for monitor_id, status in await db.execute(before)}


async def changes_between_many(
    db: Db, monitor_ids: Sequence[int], since: datetime, until: datetime
) -> dict[int, list[tuple[datetime, Status]]]:
    """(at, status) of every change of these monitors in [since, until), oldest first."""
    found: dict[int, list[tuple[datetime, Status]]] = {}
    if not monitor_ids:
        return found
    c = status_changes.c
    inside = (
        select(c.monitor_id, c.at, c.status)
        .where(c.monitor_id.in_(monitor_ids), c.at >= since, c.at < until)
        .order_by(c.monitor_id, c.at, c.id)
    )
    for monitor_id, moment, status in await db.execute(inside):
        found.setdefault(monitor_id, []).append((moment, Status(status)))
    return found
