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

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol

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
from upstate.store.db import IMMEDIATE, Db
from upstate.store.pings import Ping
from upstate.store.results import ResultRow
from upstate.store.retention import ROLLUP_RETENTION

logger = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
# Told of the status changes a batch writes, inside its transaction: (change id, row).
ChangeHook = Callable[[Db, Sequence[tuple[int, ChangeRow]], datetime], Awaitable[None]]
DEFAULT_RESULT_RETENTION = timedelta(days=30)
CHUNK_ROWS = 200  # results per statement: see _write


class BatchRejected(Exception):
    """The database refused the batch's data; retrying the same rows cannot succeed."""


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """A monitor's newest evaluator state, to be stored."""

    monitor_id: int
    state: MonitorState
    checked_at: datetime | None = None
    push: PushState | None = None  # a push monitor's ping memory rides in the same JSON


class StateSource(Protocol):
    """What a batch's states are read as: a StateUpdate, or anything with its attributes
    (the writer hands over the engine's Outcomes as they are, saving a copy per check)."""

    @property
    def monitor_id(self) -> int: ...
    @property
    def state(self) -> MonitorState: ...
    @property
    def checked_at(self) -> datetime | None: ...
    @property
    def push(self) -> PushState | None: ...


@dataclass(frozen=True, slots=True)
class Batch:
    results: Sequence[ResultRow] = ()
    states: Sequence[StateSource] = ()
    changes: Sequence[ChangeRow] = ()
    pings: Sequence[Ping] = ()

    def __len__(self) -> int:
        return len(self.results) + len(self.states) + len(self.changes) + len(self.pings)


async def write_batch(
    sessions: Sessions,
    batch: Batch,
    *,
    now: datetime,
    on_changes: ChangeHook | None = None,
    close_days: bool = False,
) -> Batch:
    """Store the batch in one transaction; returns what was written.

    With `close_days`, the transaction first rebuilds the day rollups of the last day
    written before `now`'s (rollups.close_days): the writer asks for it at its first
    flush after start and at its first flush of each UTC day.

    `on_changes` (the notifier) writes what the batch's status changes call for in the
    same transaction: a change is never stored without its notifications.

    Rows of monitors that no longer exist are left out (and missing from the returned
    batch). Raises BatchRejected if the rest is refused too, and the driver's own
    exception when the database cannot be reached.
    """
    if not len(batch):
        return batch
    try:
        await _write(sessions, batch, now, on_changes, close_days)
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
        await _write(sessions, kept, now, on_changes, close_days)
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
    sessions: Sessions,
    batch: Batch,
    now: datetime,
    on_changes: ChangeHook | None,
    close_days: bool,
) -> None:
    async with sessions() as session:
        # Every statement goes to this connection: asking the session for it again costs
        # ~20 µs of SQLAlchemy's bookkeeping per statement, on the event loop's thread.
        db = await session.connection(execution_options=IMMEDIATE)
        if close_days:
            # Before this batch's rows: its rows of earlier days are late ones, whose days
            # apply rebuilds, and they must not hide the day to close.
            await rollups.close_days(db, now)
        # In chunks: each statement's parameters are prepared on the event loop's thread,
        # ~6 µs a result (about half of it for the rollups), so one 5,000-row statement
        # would stall every probe for ~30 ms. A chunk of 200 stalls them for about a millisecond
        # and holds a whole flush at 10,000 monitors a minute: a statement costs another
        # ~90 µs of SQLAlchemy and aiosqlite on that thread, so fewer is cheaper. Sorted,
        # so each monitor's rows stay together (its rollups fold into one upsert) and
        # every writer takes rollup row locks in the same order.
        rows = sorted(batch.results, key=_by_monitor)
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            await result_store.insert_many(db, chunk)
            await rollups.apply(db, chunk, now)
        # One row per monitor (the newest wins): on PostgreSQL one multi-row upsert may not
        # touch a row twice.
        states = {update.monitor_id: update for update in batch.states}
        await state_store.put_rows(db, [_state_row(u, now) for u in states.values()])
        written = [(await change_store.add(db, change), change) for change in batch.changes]
        if on_changes is not None and written:
            await on_changes(db, written, now)
        for ping in batch.pings:
            await ping_store.add(db, ping)
        await session.commit()


def _by_monitor(row: ResultRow) -> tuple[int, str, datetime]:
    return row.monitor_id, row.region, row.started_at


def _state_row(update: StateSource, now: datetime) -> list[Any]:
    """The state's row for state_store.put_rows, its JSON written by state_json."""
    state = update.state
    return [
        update.monitor_id,
        str(state.status),  # StrEnum: its value, faster than `.value`
        state.since or now,
        update.checked_at,
        state_json(state, update.push),
        now,
    ]


_quote = encode_basestring_ascii  # how json.dumps writes a str, quotes included (C code)
_BOOLEAN = {False: "false", True: "true"}


def state_json(state: MonitorState, push: PushState | None) -> str:
    """The text json.dumps gives for state.to_dict(), with `push.to_dict()` under PUSH_KEY.

    Written directly, in the same key order and with json.dumps' default separators: the
    dict and the encoder cost ~7.5 µs a state on the event loop's thread, this ~3.5 µs. The
    tests compare the two for varied states, so a field added to to_dict fails them until
    it is added here too. Statuses are StrEnum values (plain words) and ISO 8601 times
    need no escaping; every other string goes through json's own encoder.
    """
    since = state.since
    regions = ", ".join(
        [
            f'{{"region": {_quote(r.region)}, "status": "{r.status}", '
            f'"at": "{r.at.isoformat()}", "reason": {_quote(r.reason)}}}'
            for r in state.regions
        ]
    )
    changes = ", ".join([f'"{at.isoformat()}"' for at in state.changes])
    text = (
        f'{{"status": "{state.status}", "underlying": "{state.underlying}", '
        f'"since": {"null" if since is None else _quoted_time(since)}, '
        f'"reason": {_quote(state.reason)}, "failures": {state.failures}, '
        f'"successes": {state.successes}, "unhealthy": {state.unhealthy}, '
        f'"healthy": {state.healthy}, "regions": [{regions}], "changes": [{changes}], '
        f'"flapping": {_BOOLEAN[state.flapping]}, "paused": {_BOOLEAN[state.paused]}, '
        f'"in_maintenance": {_BOOLEAN[state.in_maintenance]}'
    )
    if push is None:
        return text + "}"
    # Push monitors are few: their memory goes through json.dumps as it is.
    return f"{text}, {_quote(PUSH_KEY)}: {json.dumps(push.to_dict())}}}"


def _quoted_time(at: datetime) -> str:
    return f'"{at.isoformat()}"'


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
