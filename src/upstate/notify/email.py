"""Email channel: one multipart/alternative mail (text, then HTML) over SMTP (aiosmtplib).

The mail server is the channel's `smtp_url`, else UPSTATE_SMTP_URL; the sender its `from`,
else UPSTATE_SMTP_FROM. Both parts come from Jinja2 templates (templates/email.*.j2), the
HTML one autoescaped: a monitor named "<script>" arrives as text. The Message-ID derives
from the idempotency key, so a mail sent again after a lost answer is recognisably the
same mail. `unsubscribe_url` (for subscriber mails) adds the List-Unsubscribe headers of
RFC 2369 and RFC 8058 (one-click: the URL must accept a POST) and a footer link; the
outbox reaches it through a SubscriberEmailChannel, which carries the URL.

A subscription.confirm mail (double opt-in) shows its first link as a button and no facts
table: it has one thing to say.

SMTP replies: 4xx is temporary (retry), 5xx permanent, a rejected login (535) permanent.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import aiosmtplib
import jinja2
from pydantic import Field

from upstate.config.notifications import EmailChannel
from upstate.errors import UsageError
from upstate.notify import text
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Delivery, find_cause, redact
from upstate.notify.events import Event, EventKind
from upstate.notify.smtp_url import SmtpSecurity, SmtpServer, parse_smtp_url

TEMPLATES = Path(__file__).parent / "templates"

_ACCENTS = {
    EventKind.MONITOR_DOWN: "#cf222e",
    EventKind.MONITOR_REMINDER: "#cf222e",
    EventKind.INCIDENT_OPENED: "#cf222e",
    EventKind.INCIDENT_UPDATED: "#bf8700",
    EventKind.MONITOR_DEGRADED: "#bf8700",
    EventKind.MONITOR_FLAPPING: "#bf8700",
    EventKind.MONITOR_UP: "#1a7f37",
    EventKind.INCIDENT_RESOLVED: "#1a7f37",
    EventKind.MAINTENANCE_SCHEDULED: "#0969da",
    EventKind.MAINTENANCE_REMINDER: "#0969da",
    EventKind.MAINTENANCE_STARTED: "#0969da",
    EventKind.MAINTENANCE_COMPLETED: "#0969da",
}


class SubscriberEmailChannel(EmailChannel):
    """The email channel of one status page subscriber, built by services.subscribers for
    the outbox; never read from the config file (notifications.Channel does not name it).
    `unsubscribe_url` is absolute: the List-Unsubscribe headers need it so."""

    what: ClassVar[str] = "subscriber email channels"
    unsubscribe_url: str = Field(min_length=1)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """Built once: compiling the templates costs more than rendering them."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def build_message(
    event: Event,
    ctx: NotifyContext,
    *,
    sender: str,
    to: Sequence[str],
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    unsubscribe = ctx.absolute(unsubscribe_url) if unsubscribe_url else None
    confirming = event.kind is EventKind.SUBSCRIPTION_CONFIRM
    links = text.links(event, ctx)
    values = {
        "headline": text.headline(event),
        "summary": text.summary(event),
        "facts": [] if confirming else text.facts(event),
        "button": links[0] if confirming and links else None,
        "links": links[1:] if confirming else links,
        "base_url": ctx.absolute(ctx.base_url) if ctx.base_url else None,
        "unsubscribe_url": unsubscribe,
        "accent": _ACCENTS.get(event.kind, "#57606a"),
    }
    environment = _environment()
    message = EmailMessage()
    message["Subject"] = text.subject_of(event)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(ctx.clock())
    message["Message-ID"] = _message_id(event, sender)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message["X-Upstate-Event"] = event.kind.value
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(environment.get_template("email.txt.j2").render(values))
    message.add_alternative(
        environment.get_template("email.html.j2").render(values), subtype="html"
    )
    return message


async def send(
    channel: EmailChannel,
    event: Event,
    ctx: NotifyContext,
    *,
    unsubscribe_url: str | None = None,
) -> Delivery:
    if unsubscribe_url is None and isinstance(channel, SubscriberEmailChannel):
        unsubscribe_url = channel.unsubscribe_url
    try:
        server = (
            parse_smtp_url(channel.smtp_url.get_secret_value()) if channel.smtp_url else ctx.smtp
        )
    except UsageError as exc:
        return Delivery.permanent(exc.message)
    if server is None:
        return Delivery.permanent("no mail server: set UPSTATE_SMTP_URL or the channel's smtp_url")
    sender = channel.sender or ctx.smtp_from
    if not sender:
        return Delivery.permanent("no sender: set UPSTATE_SMTP_FROM or the channel's from")
    message = build_message(
        event, ctx, sender=sender, to=channel.to, unsubscribe_url=unsubscribe_url
    )
    return await deliver(message, server, ctx)


async def deliver(message: EmailMessage, server: SmtpServer, ctx: NotifyContext) -> Delivery:
    """Hand one message to `server`; the subscriber mails of later issues use this too."""
    password = server.password.get_secret_value() if server.password else None
    secrets = (password,) if password else ()
    try:
        async with asyncio.timeout(ctx.timeout):
            refused, _ = await aiosmtplib.send(
                message,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=password,
                use_tls=server.security is SmtpSecurity.TLS,
                start_tls=_start_tls(server.security),
                tls_context=ctx.smtp_tls_context,
                timeout=ctx.timeout,
            )
    except aiosmtplib.SMTPAuthenticationError as exc:
        if 400 <= exc.code < 500:
            return Delivery.retry(_reply("SMTP login failed", exc, secrets), status_code=exc.code)
        return Delivery.permanent(_reply("SMTP login rejected", exc, secrets), status_code=exc.code)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [refusal.code for refusal in exc.recipients]
        said = "; ".join(_reply(r.recipient, r, secrets) for r in exc.recipients)
        if any(400 <= code < 500 for code in codes):
            return Delivery.retry(f"recipients refused: {said}", status_code=min(codes))
        return Delivery.permanent(f"recipients refused: {said}", status_code=max(codes))
    except aiosmtplib.SMTPResponseException as exc:
        said = _reply("SMTP server answered", exc, secrets)
        if 400 <= exc.code < 500:
            return Delivery.retry(said, status_code=exc.code)
        return Delivery.permanent(said, status_code=exc.code)
    except (TimeoutError, aiosmtplib.SMTPTimeoutError):
        return Delivery.retry(f"SMTP timed out after {ctx.timeout:g}s")
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError) as exc:
        verify = find_cause(exc, ssl.SSLCertVerificationError)
        if isinstance(verify, ssl.SSLCertVerificationError):
            reason = verify.verify_message or "verification failed"
            return Delivery.permanent(f"SMTP server's TLS certificate not trusted: {reason}")
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return Delivery.retry(redact(f"SMTP connection failed: {detail}", secrets))
    except aiosmtplib.SMTPException as exc:
        # What is left is the server lacking what the URL asks for (STARTTLS, AUTH).
        return Delivery.permanent(redact(f"SMTP server cannot: {exc.message}", secrets))
    if refused:
        said = "; ".join(
            f"{rcpt} ({reply.code} {reply.message})" for rcpt, reply in refused.items()
        )
        return Delivery.ok(remote_id=message["Message-ID"], detail=f"some refused: {said}")
    return Delivery.ok(remote_id=message["Message-ID"])


def _start_tls(security: SmtpSecurity) -> bool | None:
    return {
        SmtpSecurity.TLS: False,
        SmtpSecurity.STARTTLS: True,
        SmtpSecurity.OPPORTUNISTIC: None,
        SmtpSecurity.NONE: False,
    }[security]


def _reply(prefix: str, exc: aiosmtplib.SMTPResponseException, secrets: tuple[str, ...]) -> str:
    return redact(f"{prefix}: {exc.code} {exc.message}", secrets)


def _message_id(event: Event, sender: str) -> str:
    digest = hashlib.sha256(event.idempotency_key.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2].strip(" >") or "upstate.invalid"
    return f"<{digest}@{domain}>"
