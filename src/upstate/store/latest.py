"""The newest result of many monitors in one query: what the board shows of each.

Asking once per monitor (store.results.latest_per_region) made a board collection of
1,000 monitors 1,000 round trips, over half its time. Here one statement answers for a
whole batch of monitors: for each monitor id a correlated subquery walks the
(monitor_id, started_at) index backwards to its newest row (ties broken by the newest
id, as everywhere else), so the cost grows with the monitors asked for, not with the
results stored. It is plain SQL that SQLite and PostgreSQL both run, with no LATERAL.

`region` narrows each monitor's newest result to one region (e.g. `local`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from upstate.store.db import Db
from upstate.store.results import ResultRow, row_of
from upstate.store.tables import monitors, results

CHUNK = 500  # monitor ids per statement: far below every driver's parameter limit


async def latest_many(
    db: Db, monitor_ids: Iterable[int], *, region: str | None = None
) -> dict[int, ResultRow]:
    """{monitor id: its newest result}; monitors without a result are left out."""
    wanted = list(dict.fromkeys(monitor_ids))
    latest: dict[int, ResultRow] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        newest = (
            select(results.c.id)
            .where(results.c.monitor_id == monitors.c.id)
            .order_by(results.c.started_at.desc(), results.c.id.desc())
            .limit(1)
        )
        if region is not None:
            newest = newest.where(results.c.region == region)
        ids = select(newest.correlate(monitors).scalar_subquery()).where(monitors.c.id.in_(chunk))
        query = select(results).where(results.c.id.in_(ids))
        for row in (await db.execute(query)).mappings():
            latest[row["monitor_id"]] = row_of(row)
    return latest
