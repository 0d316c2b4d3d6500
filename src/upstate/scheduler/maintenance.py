"""The maintenance loop: windows open and close by themselves, and subscribers are told.

Every second `run_once(now)` decides whether anything can have changed, cheaply:

- **Windows**: re-read when `reload()` was called (a config reload, an API change) or
  every `poll_every` seconds when the table's fingerprint (count, newest `updated_at`)
  moved, so an API edit made through another process is picked up within seconds.
- **Transitions**: the set of monitors in maintenance is recomputed only when
  `next_transition` has passed or the windows were re-read; it is then handed to
  `engine.apply_maintenance`, which moves exactly the monitors whose state differs.
  At each poll the same set is applied again (a no-op unless the engine loaded new
  monitors since, which must join a window already in progress).
- **Notices**: written at the same moments (services.maintenance.write_due: remembered and
  queued in one transaction, so two processes or a restart never say one thing twice).

A failed database read or write is logged and retried at the next poll; the engine
keeps the maintenance set it was last given. Time is an input (`clock`, `run_once(now)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from upstate.domain.maintenance import (
    MaintenanceWindow,
    monitors_in_maintenance,
    next_transition,
)
from upstate.services.maintenance import Fingerprint, Sessions, changed_windows, write_due
from upstate.services.notifier import Notifier

logger = logging.getLogger(__name__)

EVERY_S = 1.0
POLL_EVERY_S = 5.0


class MaintenanceTarget(Protocol):
    """What the loop needs of the engine (scheduler.engine.Engine has it)."""

    def apply_maintenance(self, keys: frozenset[str], now: datetime) -> int: ...


class MaintenanceLoop:
    def __init__(
        self,
        sessions: Sessions,
        engine: MaintenanceTarget,
        notifier: Notifier,
        clock: Callable[[], datetime],
        *,
        every: float = EVERY_S,
        poll_every: float = POLL_EVERY_S,
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._notifier = notifier
        self._clock = clock
        self.every = every
        self.poll_every = timedelta(seconds=poll_every)
        self.windows: list[MaintenanceWindow] = []
        self.keys: frozenset[str] = frozenset()  # the monitors in maintenance now
        self.next_at: datetime | None = None  # when to recompute, None: only on change
        self._fingerprint: Fingerprint | None = None
        self._poll_at: datetime | None = None  # None: read the windows at the next run
        self._forced = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def reload(self) -> None:
        """Windows changed (config reload, API write): re-read them at the next run."""
        self._forced = True
        self._wake.set()

    async def run_once(self, now: datetime) -> None:
        polled = reloaded = False
        if self._forced or self._poll_at is None or now >= self._poll_at:
            polled = True
            reloaded = await self._read_windows(now)
        if reloaded or (self.next_at is not None and now >= self.next_at):
            await self._transition(now)
        elif polled:
            self._engine.apply_maintenance(self.keys, now)

    async def _read_windows(self, now: datetime) -> bool:
        """True when the windows were (re-)read."""
        forced, self._forced = self._forced, False
        self._poll_at = now + self.poll_every
        try:
            known = None if forced else self._fingerprint
            self._fingerprint, windows = await changed_windows(self._sessions, known)
        except (SQLAlchemyError, OSError) as exc:
            self._forced = forced
            logger.warning("maintenance windows not read error=%s", type(exc).__name__)
            return False
        if windows is None:
            return False
        self.windows = windows
        logger.debug("maintenance windows read count=%d", len(windows))
        return True

    async def _transition(self, now: datetime) -> None:
        self.keys = monitors_in_maintenance(self.windows, now)
        moved = self._engine.apply_maintenance(self.keys, now)
        if moved:
            logger.info("maintenance applied monitors=%d moved=%d", len(self.keys), moved)
        try:
            await write_due(self._sessions, self._notifier, now)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("maintenance notices not written error=%s", type(exc).__name__)
            self.next_at = now + self.poll_every  # try again
            return
        except Exception:
            logger.exception("maintenance notices not written")
            self.next_at = now + self.poll_every
            return
        self.next_at = next_transition(self.windows, now)

    # --- the task ------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="upstate-maintenance")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self) -> None:
        """Run once a second (or at once after reload()) until stop()."""
        while not self._stopping:
            try:
                await self.run_once(self._clock())
            except Exception:
                logger.exception("maintenance loop failed; retrying")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every):
                    await self._wake.wait()
            self._wake.clear()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
