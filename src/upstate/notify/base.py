"""The contract between the outbox and the channels.

Each channel module has `async def send(channel, event, ctx) -> Delivery`:
- `channel` is its config model (config.notifications: EmailChannel, WebhookChannel, …);
- `event` is an Event (notify.events), rebuilt from the outbox row;
- `ctx` is the NotifyContext below, made once where the process is wired (cli, web app)
  and shared by every send: the HTTP client, the clock, the default mail server.
`send` never raises for a remote failure; it returns a Delivery (notify.delivery) that
says ok, retry (after how long, if the remote said) or permanent, with an error text that
holds no secret. It does not retry by itself: backoff and ordering are the outbox's.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from upstate import __version__
from upstate.config import Settings
from upstate.notify.delivery import Delivery
from upstate.notify.events import Event
from upstate.notify.smtp_url import SmtpServer, parse_smtp_url

USER_AGENT = f"Upstate/{__version__}"
DEFAULT_TIMEOUT = 10.0  # seconds for one whole send over HTTP or SMTP
APPRISE_TIMEOUT = 30.0  # Apprise may make several requests (an upload, then a post)
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com"
PAGERDUTY_EU_EVENTS_URL = "https://events.eu.pagerduty.com"  # channels with region: eu


def utc_now() -> datetime:
    return datetime.now(UTC)


def http_client(*, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The client to pass in as `NotifyContext.http`: redirects off (a webhook that moved
    must be fixed, not followed), bounded timeouts, Upstate's user agent."""
    return httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=False,
        verify=verify,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
    )


@dataclass(frozen=True)
class NotifyContext:
    http: httpx.AsyncClient
    clock: Callable[[], datetime] = utc_now
    smtp: SmtpServer | None = None  # for email channels without their own smtp_url
    smtp_from: str | None = None  # for email channels without their own `from`
    smtp_tls_context: ssl.SSLContext | None = None  # None: the system's trust store
    base_url: str | None = None  # the public URL of Upstate, for links in messages
    pagerduty_url: str = PAGERDUTY_EVENTS_URL
    pagerduty_eu_url: str = PAGERDUTY_EU_EVENTS_URL
    timeout: float = DEFAULT_TIMEOUT
    apprise_timeout: float = APPRISE_TIMEOUT
    user_agent: str = USER_AGENT

    @classmethod
    def from_settings(
        cls, settings: Settings, http: httpx.AsyncClient, **overrides: Any
    ) -> NotifyContext:
        """Raises UsageError when UPSTATE_SMTP_URL is malformed (without repeating it)."""
        smtp = parse_smtp_url(settings.smtp_url.get_secret_value()) if settings.smtp_url else None
        values: dict[str, Any] = {
            "smtp": smtp,
            "smtp_from": settings.smtp_from,
            "base_url": settings.base_url,
        }
        return cls(http=http, **(values | overrides))

    def absolute(self, href: str) -> str | None:
        """An http(s) URL for a link, or None when it cannot be one (no base URL for a
        path, or another scheme: a message never carries a javascript: link)."""
        lowered = href.lower()
        if lowered.startswith(("https://", "http://")):
            return href
        if href.startswith("/") and not href.startswith("//") and self.base_url:
            return self.base_url.rstrip("/") + href
        return None


SendFn = Callable[[Any, Event, NotifyContext], Awaitable[Delivery]]
