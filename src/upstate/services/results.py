"""Write what the engine saw: one transaction per batch of results, states, changes, pings.

The result writer (scheduler/writer.py) decides when; this module decides how. A batch
is all or nothing: raw results, their rollups, each touched monitor's newest state,
status changes and pings commit together, so rollups never disagree with results and a
state never runs ahead of the change that led to it.

Two kinds of failure are told apart. An unreachable or locked database raises whatever
the driver raised, and the writer keeps the batch for later. A database that refuses
the data raises BatchRejected: most often rows of a monitor deleted since its probe ran
(the API deleted it; its rows now break a foreign key), which are dropped and the rest
written; anything refused after that would be refused forever, so the writer drops it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate.domain.push import PushState
from upstate.domain.status import MonitorState
from upstate.services.runtime import PUSH_KEY
from upstate.store import changes as change_store
from upstate.store import monitors as monitor_store
from upstate.store import pings as ping_store
from upstate.store import results as result_store
from upstate.store import retention, rollups
from upstate.store import states as state_store
from upstate.store.changes import StatusChange as ChangeRow
from upstate.store.db import IMMEDIATE
from upstate.store.pings import Ping
from upstate.store.results import ResultRow
from upstate.store.retention import ROLLUP_RETENTION
from upstate.store.states import StateRecord

logger = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
# Told of the status changes a batch writes, inside its transaction: (change id, row).
ChangeHook = Callable[[AsyncSession, Sequence[tuple[int, ChangeRow]], datetime], Awaitable[None]]
DEFAULT_RESULT_RETENTION = timedelta(days=30)
CHUNK_ROWS = 100  # results per statement; keeps the loop's longest stall to milliseconds


class BatchRejected(Exception):
    """The database refused the batch's data; retrying the same rows cannot succeed."""


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """A monitor's newest evaluator state, to be stored."""

    monitor_id: int
    state: MonitorState
    checked_at: datetime | None = None
    push: PushState | None = None  # a push monitor's ping memory rides in the same JSON


@dataclass(frozen=True, slots=True)
class Batch:
    results: Sequence[ResultRow] = ()
    states: Sequence[StateUpdate] = ()
    changes: Sequence[ChangeRow] = ()
    pings: Sequence[Ping] = ()

    def __len__(self) -> int:
        return len(self.results) + len(self.states) + len(self.changes) + len(self.pings)


async def write_batch(
    sessions: Sessions, batch: Batch, *, now: datetime, on_changes: ChangeHook | None = None
) -> Batch:
    """Store the batch in one transaction; returns what was written.

    `on_changes` (the notifier) writes what the batch's status changes call for in the
    same transaction: a change is never stored without its notifications.

    Rows of monitors that no longer exist are left out (and missing from the returned
    batch). Raises BatchRejected if the rest is refused too, and the driver's own
    exception when the database cannot be reached.
    """
    if not len(batch):
        return batch
    try:
        await _write(sessions, batch, now, on_changes)
        return batch
    except DBAPIError as exc:
        if not _refused(exc):
            raise
        first_error = exc
    known = await _existing_monitors(sessions, batch)
    kept = _only(batch, known)
    dropped = len(batch) - len(kept)
    if dropped:
        logger.info("results of deleted monitors dropped rows=%d", dropped)
    if not dropped:
        raise BatchRejected(str(first_error.orig)) from first_error
    if not len(kept):
        return kept
    try:
        await _write(sessions, kept, now, on_changes)
    except DBAPIError as exc:
        if not _refused(exc):
            raise
        raise BatchRejected(str(exc.orig)) from exc
    return kept


def _refused(exc: DBAPIError) -> bool:
    """The database answered and refused the data (a constraint, a value it cannot hold),
    as opposed to not answering: SQLSTATE classes 22 and 23 (asyncpg's data exceptions
    arrive as plain DBAPIError, so the class alone does not tell)."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    state = getattr(exc.orig, "sqlstate", None)
    return isinstance(state, str) and state[:2] in ("22", "23")


async def _write(
    sessions: Sessions, batch: Batch, now: datetime, on_changes: ChangeHook | None
) -> None:
    async with sessions() as session:
        await session.connection(execution_options=IMMEDIATE)
        # In chunks: SQLAlchemy prepares each statement's parameters on the event loop's
        # thread, so one 5,000-row statement would stall every probe for a while. Sorted,
        # so each monitor's rows stay together (its rollups fold into one upsert) and
        # every writer takes rollup row locks in the same order.
        rows = sorted(batch.results, key=_by_monitor)
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            await result_store.insert_many(session, chunk)
            await rollups.apply(session, chunk)
        await state_store.put_many(session, [_state_record(u, now) for u in batch.states])
        written = [(await change_store.add(session, change), change) for change in batch.changes]
        if on_changes is not None and written:
            await on_changes(session, written, now)
        for ping in batch.pings:
            await ping_store.add(session, ping)
        await session.commit()


def _by_monitor(row: ResultRow) -> tuple[int, str, datetime]:
    return row.monitor_id, row.region, row.started_at


def _state_record(update: StateUpdate, now: datetime) -> StateRecord:
    state = update.state
    data = state.to_dict()
    if update.push is not None:
        data[PUSH_KEY] = update.push.to_dict()
    return StateRecord(
        monitor_id=update.monitor_id,
        status=state.status,
        since=state.since or now,
        last_checked_at=update.checked_at,
        state=data,
        updated_at=now,
    )


async def _existing_monitors(sessions: Sessions, batch: Batch) -> set[int]:
    wanted = {row.monitor_id for row in batch.results}
    wanted.update(update.monitor_id for update in batch.states)
    wanted.update(change.monitor_id for change in batch.changes)
    wanted.update(ping.monitor_id for ping in batch.pings)
    async with sessions() as session:
        return {i for i in sorted(wanted) if await monitor_store.get(session, i) is not None}


def _only(batch: Batch, known: set[int]) -> Batch:
    return replace(
        batch,
        results=[row for row in batch.results if row.monitor_id in known],
        states=[update for update in batch.states if update.monitor_id in known],
        changes=[change for change in batch.changes if change.monitor_id in known],
        pings=[ping for ping in batch.pings if ping.monitor_id in known],
    )


@dataclass(frozen=True, slots=True)
class Purged:
    results: int
    pings: int
    rollups: int


async def purge(
    sessions: Sessions,
    *,
    now: datetime,
    keep_results: timedelta = DEFAULT_RESULT_RETENTION,
    keep_rollups: timedelta = ROLLUP_RETENTION,
    chunk: int = retention.DEFAULT_CHUNK,
) -> Purged:
    """Delete raw results and pings older than `keep_results`, rollups older than
    `keep_rollups`; in chunks, each its own transaction, so the writer is never held up."""
    results_cutoff = now - keep_results
    deleted_results = deleted_pings = 0
    async with sessions() as session:
        while True:
            await session.connection(execution_options=IMMEDIATE)
            count = await retention.delete_results_before(session, results_cutoff, limit=chunk)
            await session.commit()
            deleted_results += count
            if count < chunk:
                break
        while True:
            await session.connection(execution_options=IMMEDIATE)
            count = await retention.delete_pings_before(session, results_cutoff, limit=chunk)
            await session.commit()
            deleted_pings += count
            if count < chunk:
                break
        await session.connection(execution_options=IMMEDIATE)
        deleted_rollups = await retention.delete_rollups_before(session, now - keep_rollups)
        await session.commit()
    return Purged(deleted_results, deleted_pings, deleted_rollups)
