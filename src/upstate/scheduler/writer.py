"""The result writer: what the engine saw reaches the database in batches, outages or not.

Results are written every second or every `batch_rows` rows, whichever comes first, one
transaction per batch (services.results.write_batch). So after `kill -9` at most about
a second of results is lost.

When the database is unreachable, probing goes on and everything waits here: raw results
in a bounded buffer that drops its oldest rows (and counts them) when full; each
monitor's newest state (one per monitor, so bounded by the number of monitors); status
changes, which are rare and never dropped; pings, bounded like results. Retries back
off up to `max_backoff` seconds and health() reports the outage until a write succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime

from upstate.services.notifier import Notifier
from upstate.services.pipeline import ChangeRow, Outcome, Ping, ResultRow
from upstate.services.results import (
    Batch,
    BatchRejected,
    Sessions,
    write_batch,
)

logger = logging.getLogger(__name__)

BATCH_ROWS = 500
FLUSH_EVERY_S = 1.0
CAPACITY = 100_000  # raw results kept while the database is away (~400 bytes each)
PING_CAPACITY = 20_000
MAX_ROWS_PER_TRANSACTION = 5_000  # results, and states, per transaction: bounded ones
MAX_BACKOFF_S = 5.0


class ResultWriter:
    def __init__(
        self,
        sessions: Sessions,
        clock: Callable[[], datetime],
        *,
        batch_rows: int = BATCH_ROWS,
        flush_every: float = FLUSH_EVERY_S,
        capacity: int = CAPACITY,
        ping_capacity: int = PING_CAPACITY,
        max_backoff: float = MAX_BACKOFF_S,
        notifier: Notifier | None = None,
    ) -> None:
        """`notifier` writes the notifications of each batch's status changes in the
        batch's transaction, and is woken after the commit."""
        self._sessions = sessions
        self.notifier = notifier
        self._clock = clock
        self.batch_rows = batch_rows
        self.flush_every = flush_every
        self.capacity = capacity
        self.ping_capacity = ping_capacity
        self.max_backoff = max_backoff
        self._results: deque[ResultRow] = deque()
        self._states: dict[int, Outcome] = {}
        self._changes: list[ChangeRow] = []
        self._pings: deque[Ping] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one flush at a time (the loop's, stop's, a test's)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failures = 0
        self.dropped = 0  # results lost to a full buffer (and pings, counted apart)
        self.dropped_pings = 0
        self.rejected = 0  # rows the database refused (logged, never retried)
        self.written = 0
        self.flushes = 0
        self.database_ok = True
        self.last_error: str | None = None
        # The UTC day of the last batch written with close_days: a flush on a later day
        # (or the first one) closes the day before (see services.results.write_batch).
        self._closed_on: date | None = None

    # --- what the engine hands in ---------------------------------------------------------

    def add(self, outcome: Outcome) -> None:
        row = outcome.row
        if row is not None:
            results = self._results
            if len(results) >= self.capacity:
                results.popleft()
                self.dropped += 1
            results.append(row)
            if len(results) >= self.batch_rows:
                self._wake.set()
        self._states[outcome.monitor_id] = outcome
        if outcome.changes:
            self._changes.extend(outcome.changes)
            self._wake.set()  # someone may need telling: no waiting for the next second

    def add_ping(self, ping: Ping) -> None:
        if len(self._pings) >= self.ping_capacity:
            self._pings.popleft()
            self.dropped_pings += 1
        self._pings.append(ping)

    def forget(self, monitor_id: int) -> None:
        """A monitor was deleted: its pending state need not be written (rows of it that
        are still buffered are dropped at write time, see services.results)."""
        self._states.pop(monitor_id, None)

    @property
    def buffered(self) -> int:
        return len(self._results)

    @property
    def pending(self) -> int:
        return len(self._results) + len(self._states) + len(self._changes) + len(self._pings)

    # --- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="upstate-writer")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self) -> None:
        """Flush every `flush_every` seconds, or at once when a batch is full, until stop()."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_every):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            ok = await self.flush()
            if not ok:
                await self._back_off()
            elif len(self._results) >= self.batch_rows or len(self._states) > self.batch_rows:
                self._wake.set()

    async def stop(self, attempts: int = 3) -> None:
        """Stop the loop and write everything pending (a few tries; what is left is lost)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        for attempt in range(attempts):
            while self.pending:
                if not await self.flush():
                    break
            if not self.pending:
                return
            if attempt + 1 < attempts:
                await asyncio.sleep(min(0.2 * 2**attempt, self.max_backoff))
        logger.error(
            "results lost at stop results=%d changes=%d error=%s",
            len(self._results),
            len(self._changes),
            self.last_error,
        )

    async def _back_off(self) -> None:
        delay = min(self.flush_every * 2 ** min(self._failures, 8), self.max_backoff)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                while not self._stopping:
                    await self._wake.wait()
                    self._wake.clear()

    async def flush(self) -> bool:
        """Write one batch; False when the database could not be reached (nothing lost)."""
        async with self._lock:
            return await self._flush()

    async def _flush(self) -> bool:
        if not self.pending:
            return True
        rows = self._take_rows()
        states = self._take_states()
        changes, self._changes = self._changes, []
        pings, self._pings = self._pings, deque()
        batch = Batch(
            results=rows,
            states=list(states.values()),
            changes=changes,
            pings=list(pings),
        )
        notifier = self.notifier
        hook = notifier.on_changes if notifier is not None else None
        now = self._clock()
        today = now.astimezone(UTC).date()
        close = today != self._closed_on
        try:
            await write_batch(self._sessions, batch, now=now, on_changes=hook, close_days=close)
        except BatchRejected as exc:
            logger.error("batch refused by the database rows=%d error=%s", len(batch), exc)
            await self._salvage(batch)
        except Exception as exc:
            self._put_back(rows, states, changes, pings)
            self._failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if self.database_ok:
                logger.error("database unreachable, buffering results error=%s", self.last_error)
            self.database_ok = False
            return False
        else:
            self.written += len(rows)
            if close:
                self._closed_on = today
        if changes and notifier is not None:
            notifier.wake()
        self.flushes += 1
        self._failures = 0
        if not self.database_ok:
            logger.info("database reachable again, buffered results written")
        self.database_ok = True
        self.last_error = None
        return True

    async def _salvage(self, batch: Batch) -> None:
        """Write what a refused batch holds apart from its raw rows (status changes above
        all), then without pings too; whatever is still refused is dropped and counted."""
        attempts = (
            Batch(states=batch.states, changes=batch.changes, pings=batch.pings),
            Batch(states=batch.states, changes=batch.changes),
            Batch(changes=batch.changes),
        )
        for attempt in attempts:
            try:
                hook = self.notifier.on_changes if self.notifier is not None else None
                await write_batch(self._sessions, attempt, now=self._clock(), on_changes=hook)
            except BatchRejected:
                continue
            except Exception as exc:  # the database went away meanwhile: try again later
                logger.error("database unreachable while salvaging a batch error=%s", exc)
                self._changes[:0] = batch.changes
                self.rejected += len(batch.results)
                return
            self.rejected += len(batch) - len(attempt)
            return
        self.rejected += len(batch)

    def _take_states(self) -> dict[int, Outcome]:
        pending = self._states
        if len(pending) <= MAX_ROWS_PER_TRANSACTION:
            self._states = {}
            return pending
        taken: dict[int, Outcome] = {}
        for monitor_id in list(itertools.islice(pending, MAX_ROWS_PER_TRANSACTION)):
            taken[monitor_id] = pending.pop(monitor_id)
        return taken

    def _take_rows(self) -> list[ResultRow]:
        results = self._results
        if len(results) <= MAX_ROWS_PER_TRANSACTION:
            rows = list(results)
            results.clear()
            return rows
        return [results.popleft() for _ in range(MAX_ROWS_PER_TRANSACTION)]

    def _put_back(
        self,
        rows: list[ResultRow],
        states: dict[int, Outcome],
        changes: list[ChangeRow],
        pings: deque[Ping],
    ) -> None:
        """Return a failed batch to the front of the buffers; newer states win."""
        results = self._results
        results.extendleft(reversed(rows))
        while len(results) > self.capacity:
            results.popleft()
            self.dropped += 1
        for monitor_id, outcome in states.items():
            self._states.setdefault(monitor_id, outcome)
        self._changes[:0] = changes
        pings.extend(self._pings)
        while len(pings) > self.ping_capacity:
            pings.popleft()
            self.dropped_pings += 1
        self._pings = pings
