"""Each monitor's last alert (domain.routing.LastNotice), kept with the outbox rows it led to."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from upstate.domain.routing import AlertKind, LastNotice
from upstate.store._sql import upsert_insert
from upstate.store.db import Db
from upstate.store.tables import notice_memory


async def get_many(db: Db, monitor_ids: Iterable[int] | None = None) -> dict[int, LastNotice]:
    """The last notices of these monitors (of every monitor that has one when None)."""
    statement = select(notice_memory)
    if monitor_ids is not None:
        wanted = sorted(set(monitor_ids))
        if not wanted:
            return {}
        statement = statement.where(notice_memory.c.monitor_id.in_(wanted))
    return {
        row.monitor_id: LastNotice(AlertKind(row.kind), row.at)
        for row in await db.execute(statement)
    }


async def put(db: Db, monitor_id: int, notice: LastNotice) -> None:
    statement = upsert_insert(db, notice_memory).values(
        monitor_id=monitor_id, kind=notice.kind.value, at=notice.at
    )
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=[notice_memory.c.monitor_id],
            set_={"kind": statement.excluded.kind, "at": statement.excluded.at},
        )
    )
