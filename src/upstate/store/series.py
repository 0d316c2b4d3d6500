"""Bulk reads for status pages: many monitors' facts and rollup series in a query or two.

`rollups.series` reads one monitor's points; a status page's charts need every monitor
of every component, and one query per monitor (1,000 on a large page) cost most of a
render. `series_many` is the same query with `monitor_id IN (...)`, grouped by
(monitor, bucket): one round trip per page, the same points per monitor, summed across
regions unless one is named.

`monitor_facts` is what a page needs of every monitor (id, key, flags, current status)
in one query over monitors LEFT JOIN monitor_state, reading none of the JSON columns
(definitions, scheduler state) that `monitors.list_all` and `states.list_states` decode:
on a 1,000-monitor page those two cost more than everything else the page computes.

The IN list is sent in slices of CHUNK ids (SQLite caps bound parameters, and a huge
statement compiles slowly), so a page of any size costs ceil(n / CHUNK) queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from upstate.domain.enums import Status
from upstate.store.db import Db
from upstate.store.rollups import Period, SeriesPoint, rollup_of, series_parameters, series_query
from upstate.store.tables import monitor_state, monitors

CHUNK = 500


@dataclass(frozen=True, slots=True)
class MonitorFacts:
    """What a status page reads of one monitor; `status` and `since` are None when no
    state is stored yet."""

    id: int
    key: str
    paused: bool
    critical: bool
    created_at: datetime
    status: Status | None
    since: datetime | None


async def monitor_facts(db: Db) -> list[MonitorFacts]:
    """Every monitor with its stored status, ordered by key, in one query."""
    m, s = monitors.c, monitor_state.c
    query = (
        select(m.id, m.key, m.paused, m.critical, m.created_at, s.status, s.since)
        .select_from(monitors.outerjoin(monitor_state, s.monitor_id == m.id))
        .order_by(m.key)
    )
    return [
        MonitorFacts(
            id=row[0],
            key=row[1],
            paused=bool(row[2]),
            critical=bool(row[3]),
            created_at=row[4],
            status=None if row[5] is None else Status(row[5]),
            since=row[6],
        )
        for row in await db.execute(query)
    ]


async def series_many(
    db: Db,
    monitor_ids: Sequence[int],
    period: Period,
    since: datetime,
    until: datetime,
    *,
    region: str | None = None,
) -> dict[int, list[SeriesPoint]]:
    """Per monitor, one point per hour or day with data in [since, until), oldest first:
    what `rollups.series` gives each of them. Monitors without data are left out."""
    found: dict[int, list[SeriesPoint]] = {}
    ids = sorted(set(monitor_ids))
    query = series_query(period, region is not None)
    values = series_parameters(period, since, until)
    values["region"] = region
    for index in range(0, len(ids), CHUNK):
        values["ids"] = ids[index : index + CHUNK]
        for row in await db.execute(query, values):
            found.setdefault(row[0], []).append(SeriesPoint(row[1], rollup_of(row[2:])))
    return found
