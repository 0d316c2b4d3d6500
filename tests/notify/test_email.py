"""The email channel against real SMTP servers (aiosmtpd) that receive and keep the mail."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from pydantic import ValidationError

from tests.notify.samples import NOW, email, incident_event, monitor_event
from tests.targets.smtp import SMTP_PASSWORD, SMTP_USER, SmtpServers
from upstate import notify
from upstate.config import Settings
from upstate.config.models import UpstateConfig
from upstate.notify import email as channel
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Outcome
from upstate.notify.events import Event, EventKind, Link, build_test_event
from upstate.notify.smtp_url import parse_smtp_url

MakeCtx = Callable[..., NotifyContext]
SENDER = "upstate@example.com"


def address(prefix: str = "ops") -> str:
    """A recipient no other test uses: the mailbox is shared by the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def parts(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content()
        for part in message.iter_parts()
        if isinstance(part, EmailMessage)
    }


async def test_it_sends_a_text_and_an_html_alternative(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address()
    ctx = make_ctx(base_url="https://status.example")
    mail = email([to], smtp_url=smtp_servers.plain.url(), **{"from": SENDER})

    delivery = await channel.send(mail, monitor_event(), ctx)

    assert delivery.outcome is Outcome.OK
    (received,) = smtp_servers.mailbox.received_by(to)
    assert received.mail_from == SENDER
    message = received.message
    assert message["Subject"] == "[Upstate] DOWN: Public API"
    assert message["From"] == SENDER
    assert message["To"] == to
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] is None
    assert message["Message-ID"] == delivery.remote_id
    assert message.get_content_type() == "multipart/alternative"
    bodies = parts(message)
    assert list(bodies) == ["text/plain", "text/html"]
    assert "Public API is down (was up). HTTP 503." in bodies["text/plain"]
    assert "Reason: status code 503, expected 200" in bodies["text/plain"]
    assert "Open in Upstate: https://status.example/monitors/public-api" in bodies["text/plain"]
    assert "<h1" in bodies["text/html"]
    assert "DOWN: Public API" in bodies["text/html"]
    assert 'href="https://status.example/monitors/public-api"' in bodies["text/html"]


async def test_it_names_the_same_mail_the_same_when_it_is_sent_again(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address()
    mail = email([to], smtp_url=smtp_servers.plain.url(), **{"from": SENDER})

    first = await channel.send(mail, monitor_event(), make_ctx())
    again = await channel.send(mail, monitor_event(), make_ctx())
    other = await channel.send(mail, monitor_event(source="status-change:2"), make_ctx())

    assert first.remote_id == again.remote_id != other.remote_id
    assert str(first.remote_id).endswith("@example.com>")


async def test_it_adds_list_unsubscribe_when_given_a_link(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address()
    mail = email([to], smtp_url=smtp_servers.plain.url(), **{"from": SENDER})
    ctx = make_ctx(base_url="https://status.example")

    await channel.send(mail, monitor_event(), ctx, unsubscribe_url="/unsubscribe/tok-1")

    message = smtp_servers.mailbox.received_by(to)[0].message
    assert message["List-Unsubscribe"] == "<https://status.example/unsubscribe/tok-1>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    bodies = parts(message)
    assert "Unsubscribe: https://status.example/unsubscribe/tok-1" in bodies["text/plain"]
    assert 'href="https://status.example/unsubscribe/tok-1"' in bodies["text/html"]


async def test_it_escapes_names_in_html_but_keeps_them_in_text(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address()
    mail = email([to], smtp_url=smtp_servers.plain.url(), **{"from": SENDER})

    await channel.send(mail, monitor_event(name="<script>alert(1)</script>"), make_ctx())

    bodies = parts(smtp_servers.mailbox.received_by(to)[0].message)
    assert "<script>" not in bodies["text/html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bodies["text/html"]
    assert "<script>alert(1)</script> is down" in bodies["text/plain"]


async def test_it_keeps_a_line_break_in_a_title_out_of_the_headers(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address()
    mail = email([to], smtp_url=smtp_servers.plain.url(), **{"from": SENDER})
    event = monitor_event(title="Broken\r\nBcc: victim@example.com")

    delivery = await channel.send(mail, event, make_ctx())

    assert delivery.outcome is Outcome.OK
    message = smtp_servers.mailbox.received_by(to)[0].message
    assert message["Subject"] == "[Upstate] Broken Bcc: victim@example.com"
    assert message["Bcc"] is None


async def test_it_logs_in_when_the_url_has_credentials(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address()
    url = smtp_servers.plain.url(user=SMTP_USER, password=SMTP_PASSWORD)
    mail = email([to], smtp_url=url, **{"from": SENDER})

    delivery = await channel.send(mail, monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.OK
    assert smtp_servers.mailbox.received_by(to)[0].login == SMTP_USER


async def test_it_gives_up_when_the_login_is_rejected(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address()
    url = smtp_servers.plain.url(user=SMTP_USER, password="wrong-password-123")
    mail = email([to], smtp_url=url, **{"from": SENDER})

    delivery = await channel.send(mail, monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.PERMANENT
    assert delivery.status_code == 535
    assert delivery.error is not None
    assert delivery.error.startswith("SMTP login rejected: 535")
    assert "wrong-password-123" not in delivery.error
    assert smtp_servers.mailbox.received_by(to) == []


async def test_it_retries_when_the_server_is_down(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    mail = email([address()], smtp_url=smtp_servers.refused.url(), **{"from": SENDER})

    delivery = await channel.send(mail, monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.RETRY
    assert delivery.error is not None
    assert delivery.error.startswith("SMTP connection failed")


async def test_it_upgrades_with_starttls_when_required(
    make_ctx: MakeCtx, smtp_servers: SmtpServers, ca_file: str
) -> None:
    to = address()
    url = smtp_servers.starttls.url(user=SMTP_USER, password=SMTP_PASSWORD, query="starttls=true")
    mail = email([to], smtp_url=url, **{"from": SENDER})
    trust = ssl.create_default_context(cafile=ca_file)

    delivery = await channel.send(mail, monitor_event(), make_ctx(smtp_tls_context=trust))

    assert delivery.outcome is Outcome.OK
    (received,) = smtp_servers.mailbox.received_by(to)
    assert received.tls
    assert received.login == SMTP_USER


async def test_it_speaks_tls_from_the_start_with_smtps(
    make_ctx: MakeCtx, smtp_servers: SmtpServers, ca_file: str
) -> None:
    to = address()
    mail = email([to], smtp_url=smtp_servers.smtps.url(), **{"from": SENDER})
    trust = ssl.create_default_context(cafile=ca_file)

    delivery = await channel.send(mail, monitor_event(), make_ctx(smtp_tls_context=trust))

    assert delivery.outcome is Outcome.OK
    assert smtp_servers.mailbox.received_by(to)[0].tls


async def test_it_gives_up_on_a_server_certificate_it_cannot_trust(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    mail = email([address()], smtp_url=smtp_servers.smtps.url(), **{"from": SENDER})

    delivery = await channel.send(mail, monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.PERMANENT
    assert delivery.error is not None
    assert "certificate not trusted" in delivery.error


async def test_it_refuses_to_send_in_clear_when_starttls_is_required_but_missing(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address()
    url = smtp_servers.plain.url(query="starttls=true")
    mail = email([to], smtp_url=url, **{"from": SENDER})

    delivery = await channel.send(mail, monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.PERMANENT
    assert smtp_servers.mailbox.received_by(to) == []


@pytest.mark.parametrize(
    ("prefix", "outcome", "code"),
    [
        ("tempfail", Outcome.RETRY, 451),
        ("reject", Outcome.PERMANENT, 550),
        ("data-tempfail", Outcome.RETRY, 451),
        ("data-reject", Outcome.PERMANENT, 554),
    ],
)
async def test_it_reads_4xx_as_temporary_and_5xx_as_permanent(
    make_ctx: MakeCtx, smtp_servers: SmtpServers, prefix: str, outcome: Outcome, code: int
) -> None:
    mail = email([address(prefix)], smtp_url=smtp_servers.plain.url(), **{"from": SENDER})

    delivery = await channel.send(mail, monitor_event(), make_ctx())

    assert delivery.outcome is outcome
    assert delivery.status_code == code


async def test_it_delivers_to_the_recipients_left_when_one_is_refused(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    good, bad = address(), address("reject")
    mail = email([good, bad], smtp_url=smtp_servers.plain.url(), **{"from": SENDER})

    delivery = await channel.send(mail, monitor_event(), make_ctx())

    assert delivery.outcome is Outcome.OK
    assert delivery.detail is not None
    assert bad in delivery.detail
    assert "550" in delivery.detail
    assert len(smtp_servers.mailbox.received_by(good)) == 1


async def test_it_uses_the_servers_settings_when_the_channel_names_none(
    http: object, smtp_servers: SmtpServers, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    to = address()
    secret_file = f"{tmp_path}/smtp-url"
    with open(secret_file, "w") as handle:
        handle.write(smtp_servers.plain.url(user=SMTP_USER, password=SMTP_PASSWORD) + "\n")
    monkeypatch.setenv("UPSTATE_SMTP_URL_FILE", secret_file)
    monkeypatch.setenv("UPSTATE_SMTP_FROM", "alerts@example.org")
    ctx = NotifyContext.from_settings(Settings(), http)  # type: ignore[arg-type]

    delivery = await channel.send(
        email([to]), build_test_event("mail", monitor_event().occurred_at), ctx
    )

    assert delivery.outcome is Outcome.OK
    (received,) = smtp_servers.mailbox.received_by(to)
    assert received.login == SMTP_USER
    assert received.mail_from == "alerts@example.org"
    assert received.message["Subject"] == "[Upstate] Test notification"


async def test_it_gives_up_without_a_mail_server_or_a_sender(make_ctx: MakeCtx) -> None:
    no_server = await channel.send(
        email([address()], **{"from": SENDER}), monitor_event(), make_ctx()
    )
    no_sender = await channel.send(
        email([address()]), monitor_event(), make_ctx(smtp=parse_smtp_url("smtp://127.0.0.1"))
    )

    assert no_server.outcome is Outcome.PERMANENT
    assert "UPSTATE_SMTP_URL" in str(no_server.error)
    assert no_sender.outcome is Outcome.PERMANENT
    assert "UPSTATE_SMTP_FROM" in str(no_sender.error)


async def test_it_carries_a_subscribers_unsubscribe_link_through_notify_send(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address("subscriber")
    unsubscribe = "https://status.example/s/acme/unsubscribe/tok-9"
    mail = channel.SubscriberEmailChannel(key="subscriber-9", to=(to,), unsubscribe_url=unsubscribe)
    ctx = make_ctx(smtp=parse_smtp_url(smtp_servers.plain.url()), smtp_from=SENDER)

    delivery = await notify.send(mail, incident_event(), ctx)  # no base URL: still absolute

    assert delivery.outcome is Outcome.OK
    message = smtp_servers.mailbox.received_by(to)[0].message
    assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    bodies = parts(message)
    assert f"Unsubscribe: {unsubscribe}" in bodies["text/plain"]
    assert f'<a href="{unsubscribe}"' in bodies["text/html"]
    assert "Incident status: investigating" in bodies["text/plain"]


async def test_it_sends_a_confirmation_mail_with_one_button_and_no_facts(
    make_ctx: MakeCtx, smtp_servers: SmtpServers
) -> None:
    to = address("confirm")
    confirm = "https://status.example/s/acme/confirm/tok-3"
    event = Event(
        kind=EventKind.SUBSCRIPTION_CONFIRM,
        occurred_at=NOW,
        idempotency_key="subscription-confirm:1/subscriber:3",
        title="Confirm your subscription to Acme",
        summary="Confirm with the link below.",
        links=(Link(confirm, "Confirm subscription"),),
    )
    mail = channel.SubscriberEmailChannel(
        key="subscriber-3", to=(to,), unsubscribe_url="https://status.example/s/acme/u/tok-3"
    )
    ctx = make_ctx(smtp=parse_smtp_url(smtp_servers.plain.url()), smtp_from=SENDER)

    assert (await notify.send(mail, event, ctx)).outcome is Outcome.OK

    message = smtp_servers.mailbox.received_by(to)[0].message
    assert message["Subject"] == "[Upstate] Confirm your subscription to Acme"
    bodies = parts(message)
    assert f"Confirm subscription: {confirm}" in bodies["text/plain"]
    assert "Event: subscription.confirm" not in bodies["text/plain"]
    assert bodies["text/html"].count(f'href="{confirm}"') == 1
    assert "display:inline-block" in bodies["text/html"]


def test_a_config_file_cannot_give_an_unsubscribe_url() -> None:
    with pytest.raises(ValidationError):
        email(["ops@example.com"], unsubscribe_url="https://evil.example/")
    config = UpstateConfig.model_validate(
        {"notifications": {"channels": [{"key": "m", "kind": "email", "to": ["a@b.example"]}]}}
    )
    assert type(config.notifications.channels[0]) is not channel.SubscriberEmailChannel
