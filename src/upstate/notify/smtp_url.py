"""The mail server of an email channel, from one URL: smtp://user:pass@host:port?starttls=true.

One URL, because one secret is easier to hand over (UPSTATE_SMTP_URL_FILE) than five
settings. `smtps://` speaks TLS from the first byte (port 465); `smtp://` upgrades with
STARTTLS when the server offers it, or always (`?starttls=true`, the mail is not sent
otherwise), or never (`?starttls=false`, for a relay on localhost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr

from upstate.errors import UsageError


class SmtpSecurity(StrEnum):
    TLS = "tls"  # smtps://
    STARTTLS = "starttls"  # required
    OPPORTUNISTIC = "opportunistic"  # STARTTLS if offered
    NONE = "none"


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    security: SmtpSecurity
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_smtp_url(url: str) -> SmtpServer:
    """Raises UsageError naming what is wrong, never repeating the URL (it holds a password)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UsageError("invalid SMTP URL: bad port") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise UsageError("invalid SMTP URL: the scheme must be smtp or smtps")
    if not parts.hostname:
        raise UsageError("invalid SMTP URL: it has no host")
    flag = parse_qs(parts.query).get("starttls", [""])[-1].lower()
    if parts.scheme == "smtps":
        security = SmtpSecurity.TLS
    elif flag in _TRUE:
        security = SmtpSecurity.STARTTLS
    elif flag in _FALSE:
        security = SmtpSecurity.NONE
    elif not flag:
        security = SmtpSecurity.OPPORTUNISTIC
    else:
        raise UsageError("invalid SMTP URL: starttls must be true or false")
    if port is None:
        port = {SmtpSecurity.TLS: 465, SmtpSecurity.STARTTLS: 587}.get(security, 25)
    username = unquote(parts.username) if parts.username else None
    password = SecretStr(unquote(parts.password)) if parts.password else None
    return SmtpServer(parts.hostname, port, security, username, password)
