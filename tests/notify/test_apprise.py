"""The Apprise channel, through Apprise's json:// to a local receiver (there is no internet)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.notify.samples import apprise, monitor_event
from tests.targets.http import HttpTarget, Response
from tests.targets.receivers import Inbox
from tests.targets.tcp import free_port
from upstate.notify import apprise as channel
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Outcome
from upstate.notify.events import EventKind

MakeCtx = Callable[..., NotifyContext]
MakeInbox = Callable[..., Inbox]


async def test_it_delivers_title_body_and_type_through_apprise(
    make_ctx: MakeCtx, apprise_receiver: MakeInbox
) -> None:
    inbox = apprise_receiver()
    ctx = make_ctx(base_url="https://status.example")

    delivery = await channel.send(apprise(inbox.apprise_url()), monitor_event(), ctx)

    assert delivery.outcome is Outcome.OK
    (body,) = inbox.bodies()
    assert body["title"] == "DOWN: Public API"
    assert body["type"] == "failure"
    assert body["message"].startswith("Public API is down (was up). HTTP 503.")
    assert "Reason: status code 503, expected 200" in body["message"]
    assert "Open in Upstate: https://status.example/monitors/public-api" in body["message"]


async def test_it_tells_recovery_as_success(make_ctx: MakeCtx, apprise_receiver: MakeInbox) -> None:
    inbox = apprise_receiver()

    await channel.send(
        apprise(inbox.apprise_url()), monitor_event(EventKind.MONITOR_UP), make_ctx()
    )

    (body,) = inbox.bodies()
    assert body["title"] == "UP: Public API"
    assert body["type"] == "success"


async def test_it_logs_in_with_the_urls_credentials(
    make_ctx: MakeCtx, apprise_receiver: MakeInbox
) -> None:
    inbox = apprise_receiver()

    await channel.send(apprise(inbox.apprise_url("bot", "pw-1")), monitor_event(), make_ctx())

    assert inbox.requests[0].header("Authorization") == "Basic Ym90OnB3LTE="  # bot:pw-1


async def test_it_retries_when_the_service_fails(
    make_ctx: MakeCtx, apprise_receiver: MakeInbox
) -> None:
    inbox = apprise_receiver(Response(500, b"broken"))

    delivery = await channel.send(apprise(inbox.apprise_url()), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.RETRY
    assert len(inbox.requests) == 1


async def test_it_retries_when_the_service_cannot_be_reached(make_ctx: MakeCtx) -> None:
    url = f"json://127.0.0.1:{free_port()}/hook"

    delivery = await channel.send(apprise(url), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.RETRY


async def test_it_gives_up_on_a_url_apprise_does_not_know(make_ctx: MakeCtx) -> None:
    delivery = await channel.send(apprise("nosuchservice://token"), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.PERMANENT


async def test_it_stops_waiting_for_a_slow_service_without_blocking_the_loop(
    make_ctx: MakeCtx, http_target: HttpTarget
) -> None:
    url = f"json://127.0.0.1:{http_target.port}/slow-headers?rto=1"
    started = time.monotonic()

    delivery = await channel.send(apprise(url), monitor_event(), make_ctx(apprise_timeout=0.3))

    assert delivery.outcome is Outcome.RETRY
    assert delivery.error == "Apprise timed out after 0.3s"
    assert time.monotonic() - started < 1
