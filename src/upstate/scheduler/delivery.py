"""The delivery loop: runs services.delivery's `run_once` every second and on `wake()`.

Rows are written by this process (the notifier, the API) and by others (the CLI, web
replicas), so the loop polls every `poll_every` seconds as well as answering `wake()`
at once. A run that takes a while (one target's slow receiver) does not hold up the
others: a new run may start while earlier ones are still sending, and skips the targets
they hold. Every state lives in the database (see services.delivery), so a new loop on
the same database resumes where a stopped or killed one left off.

An exception in a run is logged and the loop goes on. Once an hour (and at start) rows
done more than 30 days ago are purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from upstate.services.delivery import Deliverer

logger = logging.getLogger(__name__)

POLL_EVERY_S = 1.0
PURGE_EVERY_S = 3600.0
MAX_RUNS = 4  # runs in flight at once (each skips the targets the others hold)
STOP_GRACE_S = 10.0  # a send in flight may finish within this (the HTTP timeout)


class DeliveryLoop:
    def __init__(
        self,
        deliverer: Deliverer,
        *,
        poll_every: float = POLL_EVERY_S,
        purge_every: float = PURGE_EVERY_S,
        max_runs: int = MAX_RUNS,
    ) -> None:
        self._deliverer = deliverer
        self.poll_every = poll_every
        self.purge_every = purge_every
        self.max_runs = max_runs
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._runs: set[asyncio.Task[int]] = set()
        self._stopping = False
        self._failing_since_ok = False
        self._owed = False
        self.runs = 0  # finished runs, for tests and health
        self.errors = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="upstate-delivery")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Rows were committed: send them now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Start no new send; let sends in flight finish within `grace` seconds."""
        self._stopping = True
        self._deliverer.halt()
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._runs:
            _, late = await asyncio.wait(set(self._runs), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                logger.warning("delivery stopped with sends in flight runs=%d", len(late))
                await asyncio.gather(*late, return_exceptions=True)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        while not self._stopping:
            if loop.time() >= next_purge:
                next_purge = loop.time() + self.purge_every
                await self._purge()
            if len(self._runs) < self.max_runs:
                run = asyncio.create_task(self._deliverer.run_once(), name="upstate-delivery-run")
                self._runs.add(run)
                run.add_done_callback(self._finished)
            else:
                self._owed = True  # a run finishing makes up for it at once
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_every):
                    await self._wake.wait()
            self._wake.clear()

    def _finished(self, run: asyncio.Task[int]) -> None:
        self._runs.discard(run)
        self.runs += 1
        if self._owed and not self._stopping:
            self._owed = False
            self._wake.set()
        if run.cancelled():
            return
        exc = run.exception()
        if exc is None:
            if self._failing_since_ok:
                logger.info("delivery recovered")
            self._failing_since_ok = False
            if run.result() and not self._stopping:
                self._wake.set()  # more may have become due while it ran
            return
        self.errors += 1
        if not self._failing_since_ok:
            logger.error("delivery run failed", exc_info=exc)
        else:
            logger.debug("delivery run failed again error=%s", type(exc).__name__)
        self._failing_since_ok = True

    async def _purge(self) -> None:
        try:
            await self._deliverer.purge()
        except Exception:
            logger.exception("outbox purge failed")
