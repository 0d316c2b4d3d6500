"""The delivery loop around run_once: wake, poll, carry on after errors, stop, restart."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.db import TestDatabase
from tests.targets.http import HttpTarget, Request, Response
from tests.targets.receivers import Inbox
from upstate.config.notifications import Channel, WebhookChannel
from upstate.notify.base import NotifyContext, http_client
from upstate.notify.events import build_test_event
from upstate.scheduler.delivery import DeliveryLoop
from upstate.services.delivery import Deliverer
from upstate.store import outbox
from upstate.store.db import make_engine, session_factory
from upstate.store.outbox import NewNotification, OutboxRow

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(verify=False) as client:
        yield client


def channels_for(url: str) -> dict[str, Channel]:
    return {"hook": WebhookChannel.model_validate({"key": "hook", "url": url})}


def make_deliverer(
    sessions: Any, http: httpx.AsyncClient, channels: Mapping[str, Channel], **options: Any
) -> Deliverer:
    async def resolve(target: str) -> Channel | None:
        return channels.get(target)

    return Deliverer(sessions, resolve, NotifyContext(http=http), **options)


async def queue(db: TestDatabase, count: int, now: datetime = NOW) -> list[str]:
    events = [build_test_event("hook", now) for _ in range(count)]
    async with db.sessions() as session:
        await outbox.add_many(
            session,
            [NewNotification(e.idempotency_key, "hook", e.kind.value, e.to_dict()) for e in events],
            now,
        )
        await session.commit()
    return [e.idempotency_key for e in events]


async def rows(db: TestDatabase) -> list[OutboxRow]:
    async with db.sessions() as session:
        return list(reversed(await outbox.list_rows(session, target="hook")))


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # the receiver runs on another thread
            await asyncio.sleep(0.01)


def keys(inbox: Inbox) -> list[str | None]:
    return [request.header("Idempotency-Key") for request in inbox.requests]


async def test_wake_sends_new_rows_at_once(
    db: TestDatabase, http: httpx.AsyncClient, webhook_receiver: Callable[..., Inbox]
) -> None:
    inbox = webhook_receiver()
    loop = DeliveryLoop(make_deliverer(db.sessions, http, channels_for(inbox.url)), poll_every=60)
    loop.start()
    try:
        await asyncio.sleep(0.05)  # the first run found nothing; now only wake() helps
        queued = await queue(db, 2)
        loop.wake()
        await until(lambda: len(inbox.requests) == 2, within=2)
    finally:
        await loop.stop()

    assert keys(inbox) == queued
    assert not loop.alive


async def test_it_polls_for_rows_written_by_other_processes(
    db: TestDatabase, http: httpx.AsyncClient, webhook_receiver: Callable[..., Inbox]
) -> None:
    inbox = webhook_receiver()
    loop = DeliveryLoop(make_deliverer(db.sessions, http, channels_for(inbox.url)), poll_every=0.05)
    loop.start()
    try:
        await asyncio.sleep(0.05)
        queued = await queue(db, 1)  # and nobody calls wake()
        await until(lambda: len(inbox.requests) == 1)
    finally:
        await loop.stop()

    assert keys(inbox) == queued


async def test_a_new_loop_on_the_same_database_resumes_where_the_last_one_stopped(
    db: TestDatabase, http: httpx.AsyncClient, webhook_receiver: Callable[..., Inbox]
) -> None:
    inbox = webhook_receiver(Response(500, b"down"))
    clock = Clock()
    channels = channels_for(inbox.url)
    queued = await queue(db, 3)
    first = DeliveryLoop(make_deliverer(db.sessions, http, channels, clock=clock), poll_every=0.02)
    first.start()
    await until(lambda: len(inbox.requests) == 1)
    await first.stop()
    assert [row.state for row in await rows(db)] == ["pending"] * 3

    clock.now += timedelta(seconds=10)  # the retry is due when the next process starts
    engine = make_engine(db.url)
    second = DeliveryLoop(
        make_deliverer(session_factory(engine), http, channels, clock=clock), poll_every=0.02
    )
    second.start()
    try:
        await until(lambda: len(inbox.requests) == 4)
    finally:
        await second.stop()
        await engine.dispose()

    assert keys(inbox) == [queued[0], *queued]
    assert [row.state for row in await rows(db)] == ["sent"] * 3


class FlakySessions:
    """Sessions whose first `failures` openings fail, as a database that is away."""

    def __init__(self, db: TestDatabase, failures: int) -> None:
        self.db = db
        self.failures = failures

    def __call__(self) -> AsyncSession:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("database away")
        return self.db.sessions()


async def test_a_failed_run_is_logged_and_the_loop_goes_on(
    db: TestDatabase,
    http: httpx.AsyncClient,
    webhook_receiver: Callable[..., Inbox],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = webhook_receiver()
    queued = await queue(db, 1)
    sessions = FlakySessions(db, failures=4)
    loop = DeliveryLoop(make_deliverer(sessions, http, channels_for(inbox.url)), poll_every=0.02)
    with caplog.at_level(logging.INFO, logger="upstate.scheduler.delivery"):
        loop.start()
        try:
            await until(lambda: len(inbox.requests) == 1)
        finally:
            await loop.stop()

    assert keys(inbox) == queued
    assert loop.errors >= 2
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("delivery run failed") == 1  # once per outage, not per second
    assert "delivery recovered" in messages


async def test_stop_lets_a_send_in_flight_finish_and_starts_no_other(
    db: TestDatabase, http: httpx.AsyncClient, http_target: HttpTarget
) -> None:
    path = f"/delivery-loop-slow-{uuid.uuid4().hex[:8]}"
    arrived = asyncio.Event()
    main_loop = asyncio.get_running_loop()
    seen: list[str | None] = []

    async def slow(request: Request) -> Response:
        seen.append(request.header("Idempotency-Key"))
        main_loop.call_soon_threadsafe(arrived.set)
        await asyncio.sleep(0.3)
        return Response(200, b"ok")

    http_target.route(path, slow)
    queued = await queue(db, 2)
    loop = DeliveryLoop(
        make_deliverer(db.sessions, http, channels_for(http_target.url(path))), poll_every=60
    )
    loop.start()
    await asyncio.wait_for(arrived.wait(), 5)
    await loop.stop()

    assert seen == queued[:1]
    assert [row.state for row in await rows(db)] == ["sent", "pending"]


async def test_it_purges_old_done_rows_when_it_starts(
    db: TestDatabase, http: httpx.AsyncClient
) -> None:
    clock = Clock()
    await queue(db, 1, now=NOW - timedelta(days=40))
    async with db.sessions() as session:
        (row,) = await outbox.list_rows(session)
        await outbox.finish(session, row.id, outbox.SENT, NOW - timedelta(days=31))
        await session.commit()
    loop = DeliveryLoop(make_deliverer(db.sessions, http, {}, clock=clock), poll_every=60)
    loop.start()
    try:
        await until(lambda: loop.runs >= 1)
    finally:
        await loop.stop()

    assert await rows(db) == []
