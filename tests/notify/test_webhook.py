"""The webhook channel against a real receiver on 127.0.0.1 that checks signatures itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.notify.samples import NOW, incident_event, monitor_event, webhook
from tests.targets.http import HttpTarget, Response
from tests.targets.receivers import Inbox
from tests.targets.tcp import free_port
from upstate import __version__
from upstate.notify import webhook as channel
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Outcome
from upstate.notify.events import EventKind

SECRET = "whsec-0f9e8d7c6b5a"

MakeCtx = Callable[..., NotifyContext]
MakeInbox = Callable[..., Inbox]


async def test_it_posts_the_documented_json_signed_with_the_secret(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox
) -> None:
    inbox = webhook_receiver(secret=SECRET)
    ctx = make_ctx(base_url="https://status.example")

    delivery = await channel.send(webhook(inbox.url, secret=SECRET), monitor_event(), ctx)

    assert delivery.outcome is Outcome.OK
    assert delivery.status_code == 200
    assert inbox.verdicts == [True]
    request = inbox.requests[0]
    body = json.loads(request.body)
    assert body["event"] == "monitor.down"
    assert body["occurred_at"] == "2025-03-01T12:00:00.000Z"
    assert body["monitor"] == {
        "key": "public-api",
        "name": "Public API",
        "status": "down",
        "previous_status": "up",
    }
    assert body["incident"] is None
    assert body["observation"] == {"status_code": 503, "error": None, "duration_ms": 120.5}
    assert body["links"] == [
        {"href": "https://status.example/monitors/public-api", "text": "Open in Upstate"}
    ]
    assert body["id"] == "status-change:1/channel"
    assert request.header("X-Upstate-Event") == "monitor.down"
    assert request.header("Idempotency-Key") == "status-change:1/channel"
    assert request.header("User-Agent") == f"Upstate/{__version__}"
    assert request.header("Content-Type") == "application/json"
    now = datetime.now(UTC)
    assert channel.verify_signature(
        SECRET, request.header("X-Upstate-Signature"), request.body, now
    )


async def test_it_sends_incident_facts_and_no_monitor_for_an_incident(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox
) -> None:
    inbox = webhook_receiver()

    delivery = await channel.send(webhook(inbox.url), incident_event(), make_ctx())

    assert delivery.outcome is Outcome.OK
    body = inbox.bodies()[0]
    assert body["event"] == "incident.opened"
    assert body["monitor"] is None
    assert body["incident"] == {
        "id": "42",
        "title": "Database is slow",
        "status": "investigating",
        "impact": "major",
    }


async def test_it_sends_no_signature_without_a_secret(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox
) -> None:
    inbox = webhook_receiver()

    await channel.send(webhook(inbox.url), monitor_event(), make_ctx())

    assert inbox.requests[0].header("X-Upstate-Signature") is None


def test_it_refuses_a_tampered_body_a_wrong_secret_and_an_old_timestamp() -> None:
    body = b'{"event":"monitor.down"}'
    sent_at = int(NOW.timestamp())
    header = channel.sign(SECRET, body, sent_at)

    assert channel.verify_signature(SECRET, header, body, NOW)
    assert not channel.verify_signature(SECRET, header, body.replace(b"down", b"up"), NOW)
    assert not channel.verify_signature("another-secret", header, body, NOW)
    assert channel.verify_signature(SECRET, header, body, NOW + timedelta(seconds=299))
    assert not channel.verify_signature(SECRET, header, body, NOW + timedelta(seconds=301))
    assert not channel.verify_signature(SECRET, header, body, NOW - timedelta(seconds=301))
    assert not channel.verify_signature(SECRET, None, body, NOW)
    assert not channel.verify_signature(SECRET, f"t={sent_at}", body, NOW)


def test_it_accepts_any_of_several_signatures_while_a_secret_rotates() -> None:
    body = b"{}"
    sent_at = int(NOW.timestamp())
    old = channel.sign("old-secret", body, sent_at)
    new = channel.sign(SECRET, body, sent_at)
    both = f"{old},{new.split(',')[1]}"

    assert channel.verify_signature(SECRET, both, body, NOW)
    assert channel.verify_signature("old-secret", both, body, NOW)


async def test_it_is_refused_by_a_receiver_when_its_clock_signs_an_old_timestamp(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox
) -> None:
    inbox = webhook_receiver(secret=SECRET)
    ctx = make_ctx(clock=lambda: datetime.now(UTC) - timedelta(minutes=10))

    delivery = await channel.send(webhook(inbox.url, secret=SECRET), monitor_event(), ctx)

    assert inbox.verdicts == [False]
    assert delivery.outcome is Outcome.PERMANENT
    assert delivery.status_code == 401


async def test_it_retries_after_a_500(make_ctx: MakeCtx, webhook_receiver: MakeInbox) -> None:
    inbox = webhook_receiver(Response(500, b"database on fire"))

    delivery = await channel.send(webhook(inbox.url), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.RETRY
    assert delivery.status_code == 500
    assert delivery.error == "HTTP 500: database on fire"
    assert delivery.retry_after is None


async def test_it_retries_a_429_after_the_seconds_asked(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox
) -> None:
    inbox = webhook_receiver(Response(429, b"slow down", (("Retry-After", "7"),)))

    delivery = await channel.send(webhook(inbox.url), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.RETRY
    assert delivery.status_code == 429
    assert delivery.retry_after == 7


async def test_it_retries_a_503_after_the_date_asked(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox
) -> None:
    later = format_datetime(NOW + timedelta(minutes=2), usegmt=True)
    inbox = webhook_receiver(Response(503, b"", (("Retry-After", later),)))

    delivery = await channel.send(webhook(inbox.url), monitor_event(), make_ctx(clock=lambda: NOW))

    assert delivery.outcome is Outcome.RETRY
    assert delivery.retry_after == 120


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_it_gives_up_when_the_receiver_refuses_for_good(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox, status: int
) -> None:
    inbox = webhook_receiver(Response(status, b"no"))

    delivery = await channel.send(webhook(inbox.url), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.PERMANENT
    assert delivery.status_code == status
    assert delivery.error == f"HTTP {status}: no"


async def test_it_does_not_follow_a_redirect(
    make_ctx: MakeCtx, http_target: HttpTarget, webhook_receiver: MakeInbox
) -> None:
    inbox = webhook_receiver()
    moved = http_target.url(f"/redirect-to?url={inbox.url}&status=308")

    delivery = await channel.send(webhook(moved), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.PERMANENT
    assert delivery.status_code == 308
    assert inbox.requests == []


async def test_it_retries_when_the_receiver_is_too_slow(
    make_ctx: MakeCtx, http_target: HttpTarget
) -> None:
    started = time.monotonic()

    delivery = await channel.send(
        webhook(http_target.url("/slow-headers")), monitor_event(), make_ctx(timeout=0.3)
    )

    assert delivery.outcome is Outcome.RETRY
    assert delivery.error == "timed out after 0.3s"
    assert time.monotonic() - started < 2


async def test_it_retries_when_nothing_listens(make_ctx: MakeCtx) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"

    delivery = await channel.send(webhook(url), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.RETRY
    assert delivery.error is not None
    assert delivery.error.startswith("could not connect")


async def test_it_gives_up_on_a_certificate_it_cannot_trust(
    make_ctx: MakeCtx, https_target: HttpTarget
) -> None:
    delivery = await channel.send(webhook(https_target.url("/ok")), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.PERMANENT
    assert delivery.error is not None
    assert "certificate not trusted" in delivery.error


async def test_it_reads_only_the_start_of_a_huge_answer(
    make_ctx: MakeCtx, http_target: HttpTarget
) -> None:
    started = time.monotonic()

    delivery = await channel.send(webhook(http_target.url("/huge")), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.OK
    assert time.monotonic() - started < 2


async def test_it_adds_the_channels_headers_but_never_lets_them_replace_its_own(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox
) -> None:
    inbox = webhook_receiver()
    headers = {"Authorization": "Bearer tok-123", "x-upstate-event": "incident.resolved"}

    await channel.send(webhook(inbox.url, headers=headers), monitor_event(), make_ctx())

    request = inbox.requests[0]
    assert request.header("Authorization") == "Bearer tok-123"
    assert [v for k, v in request.headers if k.lower() == "x-upstate-event"] == ["monitor.down"]


async def test_it_says_every_kind_of_event_it_is_given(
    make_ctx: MakeCtx, webhook_receiver: MakeInbox
) -> None:
    inbox = webhook_receiver()
    for kind in (EventKind.MONITOR_DEGRADED, EventKind.MONITOR_UP, EventKind.MONITOR_FLAPPING):
        await channel.send(webhook(inbox.url), monitor_event(kind), make_ctx())

    assert [body["event"] for body in inbox.bodies()] == [
        "monitor.degraded",
        "monitor.up",
        "monitor.flapping",
    ]
    assert [request.header("X-Upstate-Event") for request in inbox.requests] == [
        "monitor.degraded",
        "monitor.up",
        "monitor.flapping",
    ]
