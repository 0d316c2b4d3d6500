"""Delivering the outbox: each pending row sent to its target, in order, with backoff.

One `Deliverer.run_once()` sends what is due and returns; scheduler/delivery.py calls it
every second and whenever a writer wakes it. Per target, only the oldest pending row may
be sent, and a target's rows go strictly one after another, so they arrive in order;
different targets are sent concurrently (at most `concurrency` sends at a time, across
overlapping runs: a target being sent by one run is skipped by the others).

What becomes of a row, by the channel's Delivery (notify.delivery):
- OK: `sent`; the target's last success is noted and a failing mark cleared. SKIPPED
  (the channel carries no such event): `skipped`, with the channel's reason as its error.
- RETRY: tried again after 10 s * 2^(attempts-1), capped at 1 h, less up to 10 % of
  jitter (so retries from many rows spread out, yet the first comes within 10 s), and
  never sooner than the remote's Retry-After. A row 24 h old that fails again is given up:
  `failed`, "gave up after 24 h: <last error>".
- PERMANENT: `failed`, and the target is marked failing with the error and a fingerprint
  (sha256 of its config, secrets included, never stored in clear). While the config keeps
  that fingerprint the target's later rows wait, neither sent nor dropped, until the
  config changes, someone resumes the channel (POST /api/v1/channels/{key}/resume), or
  they are 24 h old and given up.
- A target that no longer resolves (channel removed from the config, subscriber gone):
  `skipped`, "target no longer exists". It never blocks the queue.

Crash safety and "nothing sent twice": every state lives in the database. An attempt is
claimed and committed (`last_attempt_at`, and `next_attempt_at` moved past the send's
timeout, 10 s, or 30 s for Apprise, plus 2 s, so another process leaves it alone) before
the send; the outcome is marked
in a new transaction after it. After kill -9 between the two, the row is still pending and
is sent again once its claim lapses: delivery is at-least-once, and receivers drop the
copy by the event's idempotency key (one per event and channel), which the webhook
(Idempotency-Key header and `id`), email (Message-ID) and PagerDuty (dedup_key) channels
all carry (Apprise's services have no such field: a copy there is possible). A restart, or
another process, resumes from the same rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate import notify
from upstate.config.notifications import Channel
from upstate.errors import NotFound, UsageError
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Delivery, Outcome
from upstate.notify.events import Event, build_test_event
from upstate.store import channel_state as state_store
from upstate.store import outbox
from upstate.store.channel_state import ChannelState
from upstate.store.db import IMMEDIATE
from upstate.store.outbox import SUBSCRIBER_PREFIX, NewNotification, OutboxRow

logger = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
Resolve = Callable[[str], Awaitable[Channel | None]]
SendFn = Callable[[Channel, Event, NotifyContext], Awaitable[Delivery]]

FIRST_RETRY_S = 10.0
MAX_RETRY_S = 3600.0
JITTER = 0.1  # a retry comes up to 10 % sooner than its schedule, never later
GIVE_UP_AFTER = timedelta(hours=24)
CLAIM_MARGIN_S = 2.0  # a claim lasts the channel's send timeout and this much more
CONCURRENCY = 16
TARGETS_PER_RUN = 500
ROWS_PER_TARGET_RUN = 100  # then the target waits for the next run, for fairness
PURGE_AFTER = timedelta(days=30)
GONE = "target no longer exists"
MALFORMED = "malformed event in the outbox"


def utc_now() -> datetime:
    return datetime.now(UTC)


def resolver(
    channels: Callable[[], Mapping[str, Channel]],
    subscriber: Callable[[int], Awaitable[Channel | None]] | None = None,
) -> Resolve:
    """The usual `resolve`: a channel key looked up in `channels()` (read at each call, so
    a config reload is seen at once), "subscriber:<id>" through `subscriber(id)`."""

    async def resolve(target: str) -> Channel | None:
        if not target.startswith(SUBSCRIBER_PREFIX):
            return channels().get(target)
        number = target.removeprefix(SUBSCRIBER_PREFIX)
        if subscriber is None or not number.isdigit():
            return None
        return await subscriber(int(number))

    return resolve


def retry_delay(attempts: int, retry_after: float | None, jitter: float) -> float:
    """Seconds until the next try after the `attempts`-th failed one; `jitter` in [0, 1)."""
    exponent = min(max(attempts - 1, 0), 20)
    delay: float = min(FIRST_RETRY_S * 2.0**exponent, MAX_RETRY_S) * (1 - JITTER * jitter)
    return max(delay, retry_after or 0.0)


def fingerprint(channel: Channel) -> str:
    """sha256 of the channel's config, secrets revealed: it changes when any of it does."""
    data = _reveal(channel.model_dump(mode="python", by_alias=False))
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return _reveal(value.model_dump(mode="python"))
    if isinstance(value, Mapping):
        return {str(key): _reveal(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_reveal(item) for item in value]
    return value


class Deliverer:
    """Sends the outbox. Made once where the process is wired; `run_once` may overlap."""

    def __init__(
        self,
        sessions: Sessions,
        resolve: Resolve,
        ctx: NotifyContext,
        *,
        clock: Callable[[], datetime] = utc_now,
        concurrency: int = CONCURRENCY,
        jitter: Callable[[], float] = random.random,
        send: SendFn = notify.send,
    ) -> None:
        self._sessions = sessions
        self._resolve = resolve
        self._ctx = ctx
        self._clock = clock
        self._jitter = jitter
        self._send = send
        self._slots = asyncio.Semaphore(concurrency)
        self._busy: set[str] = set()  # targets being sent right now, by any run
        self._halted = False

    def halt(self) -> None:
        """Start no new send (a stopping process); sends in flight finish."""
        self._halted = True

    async def run_once(self) -> int:
        """Send every due row (each target's rows in order); returns how many rows were
        tried or settled."""
        if self._halted:
            return 0
        async with self._sessions() as session:
            targets = await outbox.due_targets(
                session, self._clock(), limit=TARGETS_PER_RUN, exclude=set(self._busy)
            )
        targets = [target for target in targets if target not in self._busy]
        self._busy.update(targets)
        try:
            counts = await asyncio.gather(*(self._drain(target) for target in targets))
        finally:
            self._busy.difference_update(targets)
        return sum(counts)

    async def purge(self, older_than: timedelta = PURGE_AFTER) -> int:
        """Delete rows done more than `older_than` ago; returns how many."""
        async with self._sessions() as session:
            await session.connection(execution_options=IMMEDIATE)
            purged = await outbox.purge_done(session, self._clock() - older_than)
            await session.commit()
        if purged:
            logger.info("outbox purged rows=%d", purged)
        return purged

    async def _drain(self, target: str) -> int:
        """The target's due rows, one after another, until one is not done or none is due."""
        try:
            channel = await self._resolve(target)
        except Exception:
            logger.exception("outbox target lookup failed target=%s", target)
            return 0
        handled = 0
        while handled < ROWS_PER_TARGET_RUN and not self._halted:
            row, settled = await self._prepare(target, channel)
            if row is None:
                return handled + settled
            handled += 1
            assert channel is not None  # _prepare settles rows of a gone target itself
            async with self._slots:
                delivery = await self._attempt(channel, row)
            if not await self._record(target, channel, row, delivery):
                return handled
        return handled

    async def _prepare(self, target: str, channel: Channel | None) -> tuple[OutboxRow | None, int]:
        """Claim the target's next row to send, settling what needs no send on the way
        (rows of a gone target, rows given up while failing). Returns (row or None,
        rows settled)."""
        settled = 0
        async with self._sessions() as session:
            await session.connection(execution_options=IMMEDIATE)
            while True:
                now = self._clock()
                row = await outbox.head(session, target)
                if row is None or row.next_attempt_at > now:
                    await session.commit()
                    return None, settled
                if channel is None:
                    await outbox.finish(session, row.id, outbox.SKIPPED, now, error=GONE)
                    logger.info(
                        "notification skipped target=%s id=%d error=%s", target, row.id, GONE
                    )
                    settled += 1
                    continue
                if await self._waits(session, target, channel, now):
                    await session.commit()
                    return None, settled
                if await outbox.claim(session, row.id, now, now + self._claim_for(channel)):
                    await session.commit()
                    return row, settled
                await session.commit()
                return None, settled

    def _claim_for(self, channel: Channel) -> timedelta:
        """How long a send may take: a claim older than this was a process that died."""
        timeout = self._ctx.apprise_timeout if channel.kind == "apprise" else self._ctx.timeout
        return timedelta(seconds=timeout + CLAIM_MARGIN_S)

    async def _waits(
        self, session: AsyncSession, target: str, channel: Channel, now: datetime
    ) -> bool:
        """True while the target is failing with the config it failed with (its rows 24 h
        old are given up meanwhile); a changed config clears the failing mark."""
        state = await state_store.get(session, target)
        if state is None or not state.failing:
            return False
        if state.fingerprint != fingerprint(channel):
            await state_store.clear_failing(session, target)
            logger.info("channel config changed, failing cleared target=%s", target)
            return False
        given_up = await outbox.give_up_before(
            session, target, now - GIVE_UP_AFTER, now, error=_gave_up(state.last_error)
        )
        if given_up:
            logger.warning("notifications given up target=%s rows=%d", target, given_up)
        return True

    async def _attempt(self, channel: Channel, row: OutboxRow) -> Delivery | None:
        """The channel's answer; None when the row holds no readable event (no channel's
        fault: the row fails alone)."""
        try:
            event = Event.from_dict(row.event)
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("malformed outbox row id=%d error=%s", row.id, type(exc).__name__)
            return None
        return await self._send(channel, event, self._ctx)

    async def _record(
        self, target: str, channel: Channel, row: OutboxRow, delivery: Delivery | None
    ) -> bool:
        """Store what the send came to; True when the row is done and the next may go."""
        async with self._sessions() as session:
            await session.connection(execution_options=IMMEDIATE)
            now = self._clock()
            if delivery is None:
                await outbox.finish(session, row.id, outbox.FAILED, now, error=MALFORMED)
                await session.commit()
                return True
            code, error = delivery.status_code, delivery.error
            if delivery.outcome is Outcome.OK:
                await outbox.finish(session, row.id, outbox.SENT, now, status_code=code)
                await state_store.mark_success(session, target, now)
                done = True
            elif delivery.outcome is Outcome.SKIPPED:  # this channel carries no such event
                await outbox.finish(session, row.id, outbox.SKIPPED, now, error=delivery.detail)
                done = True
            elif delivery.outcome is Outcome.PERMANENT:
                await outbox.finish(
                    session, row.id, outbox.FAILED, now, status_code=code, error=error
                )
                await state_store.mark_failing(
                    session, target, error or "failed", now, fingerprint(channel)
                )
                logger.warning("channel failing target=%s error=%s", target, error)
                done = False  # the rows after it wait for a config change
            elif now - row.created_at >= GIVE_UP_AFTER:
                await outbox.finish(
                    session, row.id, outbox.FAILED, now, status_code=code, error=_gave_up(error)
                )
                await state_store.note_error(session, target, error, now)
                logger.warning("notification given up target=%s id=%d", target, row.id)
                done = True
            else:
                attempts = row.attempts + 1  # as claimed
                delay = retry_delay(attempts, delivery.retry_after, self._jitter())
                await outbox.reschedule(
                    session,
                    row.id,
                    next_attempt_at=now + timedelta(seconds=delay),
                    status_code=code,
                    error=error,
                )
                await state_store.note_error(session, target, error, now)
                done = False
            await session.commit()
        return done


def _gave_up(error: str | None) -> str:
    return f"gave up after 24 h: {error or 'no answer'}"


# --- what the API shows and does ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelView:
    """A configured channel's health; never its URL, routing key, headers or password."""

    key: str
    kind: str
    name: str
    failing: bool
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    pending: int


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    target: str
    kind: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None  # None once done
    last_attempt_at: datetime | None
    done_at: datetime | None
    status_code: int | None
    error: str | None
    idempotency_key: str
    monitor: str | None  # the monitor's key, when the event is about one
    incident: str | None  # the incident's id
    maintenance: str | None  # the maintenance window's id


@dataclass(frozen=True, slots=True)
class NotificationPage:
    items: list[NotificationView]
    next_before: int | None  # pass back as `before` for the next (older) page


@dataclass(frozen=True, slots=True)
class QueuedTest:
    id: int
    idempotency_key: str
    target: str


async def channel_views(
    session: AsyncSession, channels: Mapping[str, Channel]
) -> list[ChannelView]:
    states = await state_store.get_all(session)
    pending = await outbox.pending_counts(session)
    return [
        _channel_view(channel, states.get(key), pending.get(key, 0))
        for key, channel in sorted(channels.items())
    ]


def _channel_view(channel: Channel, state: ChannelState | None, pending: int) -> ChannelView:
    return ChannelView(
        key=channel.key,
        kind=channel.kind,
        name=channel.name or channel.key,
        failing=state.failing if state else False,
        last_error=state.last_error if state else None,
        last_error_at=state.last_error_at if state else None,
        last_success_at=state.last_success_at if state else None,
        pending=pending,
    )


def _channel(channels: Mapping[str, Channel], key: str) -> Channel:
    channel = channels.get(key)
    if channel is None:
        raise NotFound(f"no channel has the key {key!r}")
    return channel


async def channel_view(
    session: AsyncSession, channels: Mapping[str, Channel], key: str
) -> ChannelView:
    channel = _channel(channels, key)
    state = await state_store.get(session, key)
    pending = (await outbox.pending_counts(session)).get(key, 0)
    return _channel_view(channel, state, pending)


async def queue_test(
    session: AsyncSession, channels: Mapping[str, Channel], key: str, now: datetime
) -> QueuedTest:
    """Queue a test event for the channel (in the caller's transaction). Raises NotFound."""
    _channel(channels, key)
    event = build_test_event(key, now)
    await outbox.add_many(
        session,
        [NewNotification(event.idempotency_key, key, event.kind.value, event.to_dict())],
        now,
    )
    row = await outbox.get_by_key(session, event.idempotency_key)
    if row is None:
        raise RuntimeError("the test notification was not queued")
    return QueuedTest(row.id, event.idempotency_key, key)


async def resume(session: AsyncSession, channels: Mapping[str, Channel], key: str) -> bool:
    """Send the channel's waiting rows again without a config change. Raises NotFound."""
    _channel(channels, key)
    cleared = await state_store.clear_failing(session, key)
    if cleared:
        logger.info("channel resumed target=%s", key)
    return cleared


async def wait_done(
    sessions: Sessions, row_id: int, wait_s: float, *, poll_every: float = 0.1
) -> NotificationView:
    """The row once done, or as it is when `wait_s` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        async with sessions() as session:
            row = await outbox.get(session, row_id)
        if row is None:
            raise NotFound(f"notification {row_id} no longer exists")
        if row.done or loop.time() >= deadline:
            return notification_view(row)
        await asyncio.sleep(min(poll_every, max(deadline - loop.time(), 0.0)))


STATES = (outbox.PENDING, *outbox.DONE_STATES)


async def notification_page(
    session: AsyncSession,
    *,
    limit: int = 100,
    before: int | None = None,
    target: str | None = None,
    state: str | None = None,
    kind: str | None = None,
) -> NotificationPage:
    if state is not None and state not in STATES:
        raise UsageError(f"state must be one of {', '.join(STATES)}")
    if not 1 <= limit <= outbox.MAX_PAGE:
        raise UsageError(f"limit must be between 1 and {outbox.MAX_PAGE}")
    rows = await outbox.list_rows(
        session, limit=limit, before=before, target=target, state=state, kind=kind
    )
    items = [notification_view(row) for row in rows]
    return NotificationPage(items, rows[-1].id if len(rows) == limit else None)


def notification_view(row: OutboxRow) -> NotificationView:
    event = row.event if isinstance(row.event, dict) else {}
    return NotificationView(
        id=row.id,
        target=row.target,
        kind=row.kind,
        state=row.state,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=None if row.done else row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        done_at=row.done_at,
        status_code=row.status_code,
        error=row.error,
        idempotency_key=row.idempotency_key,
        monitor=_field(event, "monitor", "key"),
        incident=_field(event, "incident", "id"),
        maintenance=_field(event, "maintenance", "id"),
    )


def _field(event: Mapping[str, Any], part: str, name: str) -> str | None:
    value = event.get(part)
    if isinstance(value, Mapping) and value.get(name) is not None:
        return str(value[name])
    return None


async def get_notification(session: AsyncSession, row_id: int) -> NotificationView:
    row = await outbox.get(session, row_id)
    if row is None:
        raise NotFound(f"no notification has the id {row_id}")
    return notification_view(row)
