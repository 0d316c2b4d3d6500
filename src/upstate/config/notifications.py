"""Notification channels (where alerts go) and routes (which alerts go where).

Four channel kinds; every other service (Slack, Discord, Telegram, ntfy, Teams, …) is
reached through `kind: apprise` and an Apprise URL rather than a half-finished copy here.
Every credential is a SecretStr, and no validator here repeats one.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr

from upstate.config.fields import ConfigModel, Duration, HeaderName, Key, Text, Url
from upstate.domain.enums import MonitorKind

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"invalid email address {value!r}")
    return value


def _apprise_url(value: SecretStr) -> SecretStr:
    if not _SCHEME.fullmatch(value.get_secret_value()):
        raise ValueError("expected an Apprise URL such as slack://… or discord://…")
    return value


def _smtp_url(value: SecretStr) -> SecretStr:
    try:
        parts = urlsplit(value.get_secret_value())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(
            "invalid SMTP URL: expected smtp:// or smtps://user:pass@host:port"
        ) from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("invalid SMTP URL: expected smtp:// or smtps://user:pass@host:port")
    return value


def _not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


Email = Annotated[str, AfterValidator(_email)]
Secret = Annotated[SecretStr, AfterValidator(_not_blank)]


class ChannelBase(ConfigModel):
    key: Key
    name: str | None = None


class EmailChannel(ChannelBase):
    what: ClassVar[str] = "email channels"
    kind: Literal["email"] = "email"
    to: tuple[Email, ...] = Field(min_length=1)
    sender: Email | None = Field(default=None, alias="from")
    smtp_url: Annotated[SecretStr, AfterValidator(_smtp_url)] | None = None  # else settings


class AppriseChannel(ChannelBase):
    what: ClassVar[str] = "apprise channels"
    kind: Literal["apprise"] = "apprise"
    url: Annotated[SecretStr, AfterValidator(_apprise_url)]  # Apprise URLs embed tokens


class PagerDutyChannel(ChannelBase):
    what: ClassVar[str] = "pagerduty channels"
    kind: Literal["pagerduty"] = "pagerduty"
    routing_key: Secret
    region: Literal["us", "eu"] = "us"  # the account's service region (its Events API host)


class WebhookChannel(ChannelBase):
    """A JSON POST, signed with HMAC-SHA256 of the body when `secret` is set."""

    what: ClassVar[str] = "webhook channels"
    kind: Literal["webhook"] = "webhook"
    url: Url
    secret: Secret | None = None
    headers: dict[HeaderName, SecretStr] = Field(default_factory=dict)


Channel = EmailChannel | AppriseChannel | PagerDutyChannel | WebhookChannel
CHANNEL_MODELS: dict[str, type[ChannelBase]] = {
    "email": EmailChannel,
    "apprise": AppriseChannel,
    "pagerduty": PagerDutyChannel,
    "webhook": WebhookChannel,
}


class RouteMatch(ConfigModel):
    """Every criterion given must hold; `tags` holds when the monitor has any of them."""

    what: ClassVar[str] = "route match"
    tags: tuple[Text, ...] = ()
    monitors: tuple[Key, ...] = ()
    kinds: tuple[MonitorKind, ...] = ()
    critical: bool | None = None


class Route(ConfigModel):
    """First match wins; a route without `match` catches everything, so it must be last."""

    what: ClassVar[str] = "routes"
    match: RouteMatch | None = None
    channels: tuple[Key, ...] = Field(min_length=1)
    remind_every: Duration | None = None  # repeat while still down


class Notifications(ConfigModel):
    what: ClassVar[str] = "notifications"
    channels: tuple[Channel, ...] = ()
    routes: tuple[Route, ...] = ()
