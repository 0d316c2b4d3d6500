"""Real SMTP servers (aiosmtpd) on 127.0.0.1, run by a LoopThread, that keep what they get.

Fixture `smtp_servers` (session): SmtpServers with
- `plain`: no TLS; offers AUTH (LOGIN, PLAIN) but does not require it.
- `starttls`: requires STARTTLS (the "good" certificate: trust it via `ca_file`) and
  offers AUTH after it.
- `smtps`: TLS from the first byte (the "good" certificate).
- `refused`: a port nothing listens on.
- `mailbox`: a Mailbox shared by all of them; `received_by(address)` gives the mails for
  one recipient (pick an address no other test uses), parsed (email.policy.default).
The only account is SMTP_USER / SMTP_PASSWORD; any other login is answered 535.
Recipients steer the reply: `tempfail-…@` gets 451 at RCPT, `reject-…@` gets 550 at RCPT,
`data-tempfail-…@` gets 451 after DATA, `data-reject-…@` gets 554 after DATA.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.targets.loopthread import LoopThread
from tests.targets.tcp import free_port

SMTP_USER = "upstate"
SMTP_PASSWORD = "s3cret-smtp-p@ss/word"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None  # who authenticated, if anyone
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Mailbox:
    mails: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, mail: Received) -> None:
        with self._lock:
            self.mails.append(mail)

    def received_by(self, address: str) -> list[Received]:
        with self._lock:
            return [mail for mail in self.mails if address in mail.rcpt_tos]


@dataclass(frozen=True)
class SmtpTarget:
    port: int
    scheme: str = "smtp"
    host: str = "127.0.0.1"

    def url(self, *, user: str | None = None, password: str | None = None, query: str = "") -> str:
        auth = ""
        if user is not None:
            auth = quote(user, safe="")
            if password is not None:
                auth += ":" + quote(password, safe="")
            auth += "@"
        return f"{self.scheme}://{auth}{self.host}:{self.port}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class SmtpServers:
    plain: SmtpTarget
    starttls: SmtpTarget
    smtps: SmtpTarget
    refused: SmtpTarget
    mailbox: Mailbox


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.startswith("tempfail-"):
            return "451 4.3.0 Mailbox temporarily unavailable"
        if address.startswith("reject-"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if any(rcpt.startswith("data-tempfail-") for rcpt in envelope.rcpt_tos):
            return "451 4.7.1 Try again later"
        if any(rcpt.startswith("data-reject-") for rcpt in envelope.rcpt_tos):
            return "554 5.6.0 Message refused"
        login = session.auth_data
        content = envelope.original_content or envelope.content or b""
        self.mailbox.add(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=content if isinstance(content, bytes) else content.encode(),
                login=login.login.decode() if isinstance(login, LoginPassword) else None,
                tls=session.ssl is not None  # STARTTLS, or TLS from the first byte:
                or (
                    server.transport is not None
                    and server.transport.get_extra_info("ssl_object") is not None
                ),
            )
        )
        return "250 Message accepted for delivery"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture(scope="session")
def smtp_servers(
    server_ssl_context: Callable[[str], ssl.SSLContext],
) -> Iterator[SmtpServers]:
    thread = LoopThread("smtp-targets")
    mailbox = Mailbox()
    handler = _Handler(mailbox)
    servers: list[asyncio.Server] = []

    def start(*, tls: ssl.SSLContext | None = None, starttls: ssl.SSLContext | None = None) -> int:
        def protocol() -> SMTP:
            return SMTP(
                handler,
                hostname="localhost",
                authenticator=_authenticate,
                auth_require_tls=starttls is not None,
                tls_context=starttls,
                require_starttls=starttls is not None,
                loop=thread.loop,
            )

        server = thread.call(thread.loop.create_server(protocol, "127.0.0.1", 0, ssl=tls))
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    good = server_ssl_context("good")
    yield SmtpServers(
        plain=SmtpTarget(start()),
        starttls=SmtpTarget(start(starttls=good)),
        smtps=SmtpTarget(start(tls=good), scheme="smtps"),
        refused=SmtpTarget(free_port()),
        mailbox=mailbox,
    )
    for server in servers:
        thread.loop.call_soon_threadsafe(server.close)
    thread.stop()
