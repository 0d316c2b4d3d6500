"""The registry and dispatcher, and the promise every channel keeps: no secret leaks out."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.notify.samples import apprise, email, monitor_event, pagerduty, webhook
from tests.targets.http import Response
from tests.targets.receivers import PAGERDUTY_ROUTING_KEY, Inbox, PagerDutyFake
from tests.targets.smtp import SMTP_USER, SmtpServers
from tests.targets.tcp import free_port
from upstate.config.notifications import CHANNEL_MODELS
from upstate.notify import CHANNELS, send
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Delivery, Outcome
from upstate.notify.events import Event

MakeCtx = Callable[..., NotifyContext]
SERVER_LOGGERS = ("mail.log",)  # the test SMTP server's own log, not Upstate's


def test_it_has_a_channel_for_every_kind_the_config_knows() -> None:
    assert set(CHANNELS) == set(CHANNEL_MODELS)


async def test_it_logs_each_delivery_as_a_fact(
    make_ctx: MakeCtx, webhook_receiver: Callable[..., Inbox], caplog: pytest.LogCaptureFixture
) -> None:
    inbox = webhook_receiver(Response(503, b"later"))
    caplog.set_level(logging.INFO, logger="upstate.notify")

    first = await send(webhook(inbox.url), monitor_event(), make_ctx())
    second = await send(webhook(inbox.url), monitor_event(), make_ctx())

    assert (first.outcome, second.outcome) == (Outcome.RETRY, Outcome.OK)
    lines = [r.getMessage() for r in caplog.records if r.name == "upstate.notify"]
    assert lines[0].startswith("notify failed outcome=retry channel=hook kind=webhook")
    assert lines[0].endswith("error=HTTP 503: later")
    assert lines[1].startswith("notify ok channel=hook kind=webhook event=monitor.down")


async def test_it_turns_a_crashing_channel_into_a_retry(
    make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(channel: object, event: Event, ctx: NotifyContext) -> Delivery:
        raise KeyError("a bug")

    monkeypatch.setitem(CHANNELS, "webhook", broken)

    delivery = await send(webhook("http://127.0.0.1:9/hook"), monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.RETRY
    assert delivery.error == "internal error: KeyError"
    assert "notify crashed channel=hook kind=webhook" in caplog.text


async def test_it_never_lets_a_secret_into_an_error_or_a_log(
    make_ctx: MakeCtx,
    webhook_receiver: Callable[..., Inbox],
    apprise_receiver: Callable[..., Inbox],
    pagerduty_fake: Callable[..., PagerDutyFake],
    smtp_servers: SmtpServers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook_secret, header_secret = "whsec-5ecret-signing-key", "Bearer tok-5ecret-header"
    smtp_password, apprise_password = "pw-5ecret-smtp-login", "pw-5ecret-apprise-login"
    short_key = "pd-5ecret-too-short"
    secrets = (hook_secret, header_secret, smtp_password, apprise_password)
    secrets += (short_key, PAGERDUTY_ROUTING_KEY)
    # Each receiver quotes back the secrets its channel sent, as careless servers do.
    echo = f"you sent {hook_secret} and {header_secret}".encode()
    pd_echo = f"unknown routing key {PAGERDUTY_ROUTING_KEY}".encode()
    chat_echo = f"login bot:{apprise_password} refused".encode()
    caplog.set_level(logging.DEBUG)
    fake = pagerduty_fake(Response(500, pd_echo), Response(401, pd_echo))
    ctx = make_ctx(pagerduty_url=fake.base_url)
    hook = {"secret": hook_secret, "headers": {"Authorization": header_secret}}
    down = f"http://127.0.0.1:{free_port()}"
    smtp = smtp_servers.plain.url(user=SMTP_USER, password=smtp_password)
    to = {"from": "upstate@example.com"}
    chat = apprise_receiver(Response(500, chat_echo))
    channels = [
        webhook(webhook_receiver(Response(500, echo)).url, **hook),
        webhook(webhook_receiver(Response(401, echo)).url, **hook),
        webhook(f"{down}/hook", **hook),
        pagerduty(PAGERDUTY_ROUTING_KEY),  # 500
        pagerduty(PAGERDUTY_ROUTING_KEY),  # 401
        pagerduty(short_key),  # 400 invalid event
        email(["ops@example.com"], smtp_url=smtp, **to),  # 535
        email(["ops@example.com"], smtp_url=f"smtp://u:{smtp_password}@127.0.0.1:1", **to),
        apprise(chat.apprise_url("bot", apprise_password)),  # 500
        apprise(f"json://bot:{apprise_password}@127.0.0.1:{free_port()}/hook"),
    ]

    deliveries = [await send(channel, monitor_event(), ctx) for channel in channels]

    assert all(not delivery.done for delivery in deliveries)
    errors = [str(delivery.error) for delivery in deliveries]
    logged = [record.getMessage() for record in caplog.records if record.name not in SERVER_LOGGERS]
    assert len(logged) >= len(channels)
    for secret in secrets:
        assert not [text for text in errors if secret in text], secret
        assert not [text for text in logged if secret in text], secret
