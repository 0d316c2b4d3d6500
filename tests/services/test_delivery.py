"""The outbox's delivery, driven by run_once on a settable clock, against real receivers.

Every test runs on SQLite and PostgreSQL. Receivers are loopback HTTP routes (and a real
SMTP server) whose answers may depend on the test's clock, so "down for 30 s" takes no
real time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fixtures.db import TestDatabase
from tests.targets.http import HttpTarget, Request, Response
from tests.targets.receivers import Inbox
from tests.targets.smtp import SMTP_USER, SmtpServers
from upstate import notify
from upstate.config.notifications import Channel, EmailChannel, WebhookChannel
from upstate.domain.enums import Status
from upstate.notify.base import NotifyContext, http_client
from upstate.notify.events import Event, EventKind, EventMonitor
from upstate.services import delivery
from upstate.services.delivery import Deliverer, fingerprint, retry_delay
from upstate.store import channel_state, outbox
from upstate.store.db import make_engine, session_factory
from upstate.store.outbox import NewNotification, OutboxRow

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
_paths = itertools.count()


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class TimedReceiver:
    """A webhook receiver that answers `status` while the test clock is before `until`,
    then 200; it keeps (idempotency key, status answered) for each request."""

    def __init__(
        self, target: HttpTarget, clock: Clock, *, until: datetime, status: int = 500
    ) -> None:
        self.path = f"/delivery-{next(_paths)}-{uuid.uuid4().hex[:8]}"
        self.clock, self.until, self.status = clock, until, status
        self.answers: list[tuple[str, int]] = []
        self.url = target.url(self.path)
        target.route(self.path, self.handle)

    def handle(self, request: Request) -> Response:
        status = self.status if self.clock() < self.until else 200
        self.answers.append((request.header("Idempotency-Key") or "", status))
        return Response(status, b"down" if status >= 400 else b"ok")

    def delivered(self) -> list[str]:
        return [key for key, status in self.answers if status == 200]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(verify=False) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


def webhook(key: str, url: str, **fields: Any) -> WebhookChannel:
    return WebhookChannel.model_validate({"key": key, "url": url, **fields})


def deliverer(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    channels: Mapping[str, Channel],
    **options: Any,
) -> Deliverer:
    """A Deliverer resolving targets from `channels` (looked up at each send, so a test
    may swap a channel's config as a reload would)."""

    async def resolve(target: str) -> Channel | None:
        return channels.get(target)

    options.setdefault("jitter", lambda: 0.0)
    return Deliverer(db.sessions, resolve, NotifyContext(http=http), clock=clock, **options)


def event(number: int, target: str) -> Event:
    return Event(
        kind=EventKind.MONITOR_DOWN,
        occurred_at=NOW,
        idempotency_key=f"change:{number}/{target}",
        monitor=EventMonitor("api", "API", Status.DOWN, Status.UP),
    )


async def queue(db: TestDatabase, target: str, numbers: range, now: datetime) -> list[str]:
    events = [event(number, target) for number in numbers]
    async with db.sessions() as session:
        await outbox.add_many(
            session,
            [NewNotification(e.idempotency_key, target, e.kind.value, e.to_dict()) for e in events],
            now,
        )
        await session.commit()
    return [e.idempotency_key for e in events]


async def rows(db: TestDatabase, target: str) -> list[OutboxRow]:
    async with db.sessions() as session:
        return list(reversed(await outbox.list_rows(session, target=target)))


async def drive(work: Deliverer, clock: Clock, seconds: int, step: float = 1.0) -> None:
    """run_once every `step` seconds of the test clock, for `seconds`."""
    for _ in range(int(seconds / step)):
        await work.run_once()
        clock.advance(step)


async def test_it_delivers_every_notification_once_and_in_order_after_30_s_of_500s(
    db: TestDatabase, http: httpx.AsyncClient, clock: Clock, http_target: HttpTarget
) -> None:
    receiver = TimedReceiver(http_target, clock, until=NOW + timedelta(seconds=30))
    keys = await queue(db, "hook", range(1, 6), NOW)
    work = deliverer(db, http, clock, {"hook": webhook("hook", receiver.url)})

    await drive(work, clock, 60)

    assert receiver.delivered() == keys  # each once, in order
    failed = [key for key, status in receiver.answers if status == 500]
    assert failed == [keys[0]] * 2  # at 0 and 10 s; then 30 s: only the oldest was tried
    stored = await rows(db, "hook")
    assert [row.state for row in stored] == ["sent"] * 5
    assert [row.attempts for row in stored] == [3, 1, 1, 1, 1]
    assert stored[0].status_code == 200
    assert all(row.done_at is not None for row in stored)


async def test_it_backs_off_exponentially_from_10_s(
    db: TestDatabase, http: httpx.AsyncClient, clock: Clock, http_target: HttpTarget
) -> None:
    receiver = TimedReceiver(http_target, clock, until=NOW + timedelta(days=2))
    await queue(db, "hook", range(1, 2), NOW)
    work = deliverer(db, http, clock, {"hook": webhook("hook", receiver.url)})

    seen = []
    for _ in range(4):
        await work.run_once()
        (row,) = await rows(db, "hook")
        seen.append((row.next_attempt_at - clock()).total_seconds())
        clock.now = row.next_attempt_at

    assert seen == [10, 20, 40, 80]
    assert row.error == "HTTP 500: down"
    assert row.status_code == 500
    assert row.last_attempt_at == row.next_attempt_at - timedelta(seconds=80)


def test_the_delay_is_capped_at_an_hour_jittered_sooner_and_never_before_retry_after() -> None:
    assert retry_delay(1, None, 0.0) == 10
    assert 9 <= retry_delay(1, None, 0.999) <= 10
    assert retry_delay(9, None, 0.0) == 2560
    assert retry_delay(10, None, 0.0) == 3600
    assert retry_delay(500, None, 0.5) == 3600 * 0.95
    assert retry_delay(1, 120.0, 0.0) == 120


async def test_it_waits_as_long_as_retry_after_says(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver(Response(429, b"slow down", (("Retry-After", "120"),)))
    await queue(db, "hook", range(1, 2), NOW)
    work = deliverer(db, http, clock, {"hook": webhook("hook", inbox.url)})

    await work.run_once()

    (row,) = await rows(db, "hook")
    assert row.state == "pending"
    assert row.next_attempt_at == NOW + timedelta(seconds=120)
    clock.advance(119)
    await work.run_once()
    assert len(inbox.requests) == 1
    clock.advance(1)
    await work.run_once()
    assert [row.state for row in await rows(db, "hook")] == ["sent"]


async def test_it_gives_up_on_a_row_24_h_old_that_fails_again(
    db: TestDatabase, http: httpx.AsyncClient, clock: Clock, http_target: HttpTarget
) -> None:
    receiver = TimedReceiver(http_target, clock, until=NOW + timedelta(days=2))
    await queue(db, "hook", range(1, 3), NOW)
    work = deliverer(db, http, clock, {"hook": webhook("hook", receiver.url)})

    await work.run_once()
    clock.now = NOW + timedelta(hours=24, seconds=-1)
    await work.run_once()  # 1 s short of 24 h: tried again, and kept
    first, _ = await rows(db, "hook")
    assert (first.state, first.attempts) == ("pending", 2)
    clock.now = first.next_attempt_at
    await work.run_once()

    first, second = await rows(db, "hook")
    assert first.state == "failed"
    assert first.error == "gave up after 24 h: HTTP 500: down"
    assert second.state == "failed"  # tried next, as old, and as unlucky
    assert len(receiver.answers) == 4


async def test_a_permanent_failure_marks_the_channel_failing_and_holds_the_rest_until_the_config_changes(  # noqa: E501
    db: TestDatabase, http: httpx.AsyncClient, clock: Clock, http_target: HttpTarget
) -> None:
    receiver = TimedReceiver(http_target, clock, until=NOW + timedelta(days=2), status=401)
    keys = await queue(db, "hook", range(1, 4), NOW)
    channels: dict[str, Channel] = {"hook": webhook("hook", receiver.url + "?v=1")}
    work = deliverer(db, http, clock, channels)

    await drive(work, clock, 30)

    assert receiver.answers == [(keys[0], 401)]  # tried once, never again
    assert [row.state for row in await rows(db, "hook")] == ["failed", "pending", "pending"]
    async with db.sessions() as session:
        state = await channel_state.get(session, "hook")
    assert state is not None
    assert state.failing
    assert state.last_error == "HTTP 401: down"
    assert state.last_error_at == NOW
    assert state.fingerprint == fingerprint(channels["hook"])

    receiver.until = NOW  # the receiver is fixed too, but only a new config is tried
    await drive(work, clock, 5)
    assert len(receiver.answers) == 1
    channels["hook"] = webhook("hook", receiver.url + "?v=2")
    await work.run_once()

    assert receiver.delivered() == keys[1:]
    assert [row.state for row in await rows(db, "hook")] == ["failed", "sent", "sent"]
    async with db.sessions() as session:
        state = await channel_state.get(session, "hook")
    assert state is not None
    assert not state.failing
    assert state.last_success_at == clock()


async def test_resume_sends_the_waiting_rows_with_the_same_config(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver(Response(403, b"forbidden"))
    channels: dict[str, Channel] = {"hook": webhook("hook", inbox.url)}
    keys = await queue(db, "hook", range(1, 3), NOW)
    work = deliverer(db, http, clock, channels)
    await drive(work, clock, 3)
    assert len(inbox.requests) == 1

    async with db.sessions() as session:
        assert await delivery.resume(session, channels, "hook")
        await session.commit()
    await work.run_once()

    assert [r.header("Idempotency-Key") for r in inbox.requests] == keys
    assert [row.state for row in await rows(db, "hook")] == ["failed", "sent"]


async def test_waiting_rows_of_a_failing_channel_are_given_up_after_24_h(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver(Response(404, b"no such hook"))
    await queue(db, "hook", range(1, 3), NOW)
    work = deliverer(db, http, clock, {"hook": webhook("hook", inbox.url)})
    await work.run_once()
    await queue(db, "hook", range(3, 4), NOW + timedelta(hours=1))

    clock.advance(24 * 3600)
    await work.run_once()

    states = [(row.state, row.error) for row in await rows(db, "hook")]
    assert states == [
        ("failed", "HTTP 404: no such hook"),
        ("failed", "gave up after 24 h: HTTP 404: no such hook"),
        ("pending", None),  # 23 h old: it still waits
    ]
    assert len(inbox.requests) == 1


async def test_a_rejected_smtp_login_marks_an_email_channel_failing_without_the_password(
    db: TestDatabase, http: httpx.AsyncClient, clock: Clock, smtp_servers: SmtpServers
) -> None:
    password = "wrong-password-" + uuid.uuid4().hex[:8]
    url = smtp_servers.plain.url(user=SMTP_USER, password=password)
    channel = EmailChannel.model_validate(
        {"key": "mail", "to": ["ops@example.com"], "from": "up@example.com", "smtp_url": url}
    )
    await queue(db, "mail", range(1, 3), NOW)
    work = deliverer(db, http, clock, {"mail": channel})

    await work.run_once()

    assert [row.state for row in await rows(db, "mail")] == ["failed", "pending"]
    async with db.sessions() as session:
        state = await channel_state.get(session, "mail")
        (view,) = await delivery.channel_views(session, {"mail": channel})
    assert state is not None
    assert state.failing
    assert state.last_error is not None
    assert state.last_error.startswith("SMTP login rejected: 535")
    assert password not in str(view)
    assert password not in (state.fingerprint or "")


async def test_rows_of_a_target_that_no_longer_exists_are_skipped(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver()
    await queue(db, "gone", range(1, 3), NOW)
    await queue(db, "subscriber:99", range(3, 4), NOW)
    await queue(db, "hook", range(4, 5), NOW)
    work = deliverer(db, http, clock, {"hook": webhook("hook", inbox.url)})

    await work.run_once()

    for target in ("gone", "subscriber:99"):
        assert {(r.state, r.error) for r in await rows(db, target)} == {
            ("skipped", "target no longer exists")
        }
    assert [row.state for row in await rows(db, "hook")] == ["sent"]


async def test_a_new_deliverer_on_the_same_database_resumes_where_the_last_one_stopped(
    db: TestDatabase, http: httpx.AsyncClient, clock: Clock, http_target: HttpTarget
) -> None:
    receiver = TimedReceiver(http_target, clock, until=NOW + timedelta(seconds=5))
    keys = await queue(db, "hook", range(1, 4), NOW)
    channels = {"hook": webhook("hook", receiver.url)}
    await deliverer(db, http, clock, channels).run_once()  # 500: due again at +10 s

    clock.advance(10)
    engine = make_engine(db.url)  # as a restarted process would
    try:
        other = Deliverer(
            session_factory(engine),
            lambda target: _found(channels.get(target)),
            NotifyContext(http=http),
            clock=clock,
        )
        await other.run_once()
    finally:
        await engine.dispose()

    assert receiver.delivered() == keys
    assert [row.state for row in await rows(db, "hook")] == ["sent"] * 3


async def _found(channel: Channel | None) -> Channel | None:
    return channel


async def test_a_row_claimed_by_a_process_that_died_is_sent_after_its_claim_lapses(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver()
    keys = await queue(db, "hook", range(1, 3), NOW)
    async with db.sessions() as session:  # what a process killed mid-send leaves behind
        head = await outbox.head(session, "hook")
        assert head is not None
        assert await outbox.claim(session, head.id, NOW, NOW + timedelta(seconds=60))
        await session.commit()
    work = deliverer(db, http, clock, {"hook": webhook("hook", inbox.url)})

    await drive(work, clock, 59)
    assert inbox.requests == []  # the claim holds: another process may still be sending
    await drive(work, clock, 2)

    assert [r.header("Idempotency-Key") for r in inbox.requests] == keys
    first, _ = await rows(db, "hook")
    assert first.last_attempt_at == NOW + timedelta(seconds=60)


async def test_two_targets_are_sent_side_by_side_and_never_block_each_other(
    db: TestDatabase, http: httpx.AsyncClient, clock: Clock, http_target: HttpTarget
) -> None:
    slow_path = f"/delivery-slow-{uuid.uuid4().hex[:8]}"
    answered: list[float] = []

    async def slow(_: Request) -> Response:
        await asyncio.sleep(0.5)
        answered.append(time.monotonic())
        return Response(503, b"busy")

    http_target.route(slow_path, slow)
    fast = TimedReceiver(http_target, clock, until=NOW)
    arrived: list[float] = []
    original = fast.handle

    def timed(request: Request) -> Response:
        arrived.append(time.monotonic())
        return original(request)

    http_target.route(fast.path, timed)
    await queue(db, "slow", range(1, 3), NOW)
    keys = await queue(db, "fast", range(3, 6), NOW)
    channels = {
        "slow": webhook("slow", http_target.url(slow_path)),
        "fast": webhook("fast", fast.url),
    }

    await deliverer(db, http, clock, channels).run_once()

    assert fast.delivered() == keys
    assert len(answered) == 1
    assert max(arrived) < answered[0]  # all of fast's went while slow's was in flight
    assert [row.state for row in await rows(db, "slow")] == ["pending", "pending"]


async def test_purge_deletes_rows_done_30_days_ago_and_keeps_pending_ones(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver()
    await queue(db, "hook", range(1, 3), NOW)
    await queue(db, "gone", range(3, 4), NOW)
    work = deliverer(db, http, clock, {"hook": webhook("hook", inbox.url)})
    await work.run_once()
    await queue(db, "hook", range(4, 5), NOW + timedelta(days=31))

    clock.advance(30 * 86400)
    assert await work.purge() == 0
    clock.advance(1)
    assert await work.purge() == 3

    assert [row.state for row in await rows(db, "hook")] == ["pending"]


def test_the_fingerprint_follows_every_setting_secrets_included() -> None:
    one = webhook("hook", "https://example.com/h", headers={"Authorization": "Bearer a"})
    same = webhook("hook", "https://example.com/h", headers={"Authorization": "Bearer a"})
    other = webhook("hook", "https://example.com/h", headers={"Authorization": "Bearer b"})

    assert fingerprint(one) == fingerprint(same)
    assert fingerprint(one) != fingerprint(other)
    assert len(fingerprint(one)) == 64


async def test_the_resolver_reads_the_config_at_each_call_and_asks_for_subscribers() -> None:
    config: dict[str, Channel] = {}
    hook = webhook("hook", "https://example.com/h")
    asked: list[int] = []

    async def subscriber(number: int) -> Channel | None:
        asked.append(number)
        return hook if number == 7 else None

    resolve = delivery.resolver(lambda: config, subscriber)

    assert await resolve("hook") is None
    config["hook"] = hook  # a reload
    assert await resolve("hook") is hook
    assert await resolve("subscriber:7") is hook
    assert await resolve("subscriber:8") is None
    assert await resolve("subscriber:x") is None
    assert asked == [7, 8]
    assert await delivery.resolver(lambda: config)("subscriber:7") is None


async def test_an_attempt_is_committed_before_the_send_and_held_for_its_timeout(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver()
    (key,) = await queue(db, "hook", range(1, 2), NOW)
    during: list[OutboxRow | None] = []

    async def send_and_look(channel: Channel, sent: Event, ctx: NotifyContext) -> Any:
        async with db.sessions() as session:  # another connection: sees only what committed
            during.append(await outbox.get_by_key(session, sent.idempotency_key))
        return await notify.send(channel, sent, ctx)

    work = deliverer(db, http, clock, {"hook": webhook("hook", inbox.url)}, send=send_and_look)
    await work.run_once()

    (row,) = during
    assert row is not None
    assert (row.state, row.attempts, row.last_attempt_at) == ("pending", 1, NOW)
    assert row.next_attempt_at == NOW + timedelta(seconds=12)  # 10 s timeout + 2 s
    assert [r.header("Idempotency-Key") for r in inbox.requests] == [key]


async def test_a_malformed_row_fails_alone_and_the_next_goes_out(
    db: TestDatabase,
    http: httpx.AsyncClient,
    clock: Clock,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver()
    async with db.sessions() as session:
        broken = NewNotification("broken/hook", "hook", "monitor.down", {"kind": "no such"})
        await outbox.add_many(session, [broken], NOW)
        await session.commit()
    (key,) = await queue(db, "hook", range(1, 2), NOW)
    work = deliverer(db, http, clock, {"hook": webhook("hook", inbox.url)})

    await work.run_once()

    assert [(r.state, r.error) for r in await rows(db, "hook")] == [
        ("failed", "malformed event in the outbox"),
        ("sent", None),
    ]
    assert [r.header("Idempotency-Key") for r in inbox.requests] == [key]
    async with db.sessions() as session:
        state = await channel_state.get(session, "hook")
    assert state is not None
    assert not state.failing
