"""The notifier's clock: every few seconds, what the passing of time owes.

Reminders while a monitor stays down, alerts held back while a parent was down or a
monitor flapped, automatic incidents whose monitors all settled (services.notifier
`sweep`), in one IMMEDIATE transaction per pass; the delivery loop is woken after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from upstate.services.notifier import Notifier
from upstate.services.results import Sessions

logger = logging.getLogger(__name__)

SWEEP_EVERY_S = 5.0


class NotifySweep:
    def __init__(
        self,
        sessions: Sessions,
        notifier: Notifier,
        clock: Callable[[], datetime],
        *,
        every: float = SWEEP_EVERY_S,
    ) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._clock = clock
        self.every = every
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        await self._notifier.sweep_committed(self._sessions, self._clock())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.run_once()
            except Exception as exc:
                logger.warning("notification sweep failed error=%s", exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="upstate-notify-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
