"""The board's heartbeat: push a snapshot to `board.ingest_url` every `board.heartbeat`.

So stored history has no gaps even when nobody watches the board. Fire-and-forget:
each push is bounded by `timeout`, and any failure (no answer, an error status, a
snapshot that could not be collected) is logged and forgotten; nothing waits on it.
The receiver authenticates the push by the `X-Status-Secret` header; with an ingest
URL but no `ingest_secret` the push is skipped, with one warning for the process.

The snapshot comes from a callable (the web's BoardCache.get, so viewers and the
heartbeat share one collection per cache_ttl); the board settings are re-read from
`live.config` before every push, so a config reload takes effect at the next beat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx

from upstate.services.live import LiveConfig

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Status-Secret"  # noqa: S105 - a header name, not a secret
TIMEOUT_S = 5.0
IDLE_S = 10.0  # how often an unconfigured loop looks at the config again


class PushOutcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # no ingest_url, or no secret


SnapshotSource = Callable[[], Awaitable[Mapping[str, Any]]]


class BoardPush:
    def __init__(
        self,
        snapshot: SnapshotSource,
        live: LiveConfig,
        http: httpx.AsyncClient,
        *,
        timeout: float = TIMEOUT_S,
    ) -> None:
        self._snapshot = snapshot
        self._live = live
        self._http = http
        self.timeout = timeout
        self.warned_no_secret = False
        self.sent = 0
        self.failed = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run_once(self) -> PushOutcome:
        """One push. Never raises (but a cancellation)."""
        board = self._live.config.board
        if board.ingest_url is None:
            return PushOutcome.SKIPPED
        if board.ingest_secret is None:
            if not self.warned_no_secret:
                self.warned_no_secret = True
                logger.warning("board push skipped: board.ingest_secret is not set")
            return PushOutcome.SKIPPED
        host = urlsplit(board.ingest_url).hostname
        try:
            async with asyncio.timeout(self.timeout):
                snapshot = await self._snapshot()
                answer = await self._http.post(
                    board.ingest_url,
                    json=dict(snapshot),
                    headers={SECRET_HEADER: board.ingest_secret.get_secret_value()},
                    timeout=self.timeout,
                    follow_redirects=False,
                )
        except Exception as exc:  # fire-and-forget: nothing may escape
            self.failed += 1
            logger.warning("board push failed host=%s error=%s", host, type(exc).__name__)
            return PushOutcome.FAILED
        if not answer.is_success:
            self.failed += 1
            logger.warning("board push refused host=%s status=%d", host, answer.status_code)
            return PushOutcome.FAILED
        self.sent += 1
        return PushOutcome.SENT

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="upstate-board-push")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self) -> None:
        """Push every `board.heartbeat` seconds until stop()."""
        while not self._stopping.is_set():
            board = self._live.config.board
            outcome = await self.run_once()
            wait = board.heartbeat if outcome is not PushOutcome.SKIPPED else IDLE_S
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
