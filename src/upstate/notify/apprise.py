"""Apprise channel: any Apprise URL (slack://, discord://, tgram://, ntfy://, json://, …).

Apprise is synchronous (requests underneath), so it runs in a worker thread under a
deadline; a thread that outlives it is left to finish, since a thread cannot be stopped.
Apprise answers only yes or no, so every "no" is a retry: the outbox's 24-hour limit
ends a URL that never works. A URL Apprise cannot parse is permanent. Apprise's own
debug records are dropped (they quote URLs, tokens included); its warnings pass.
"""

from __future__ import annotations

import asyncio
import logging

import apprise

from upstate.config.notifications import AppriseChannel
from upstate.notify import text
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Delivery
from upstate.notify.events import Event, EventKind

logger = logging.getLogger(__name__)

_TYPES = {
    EventKind.MONITOR_DOWN: apprise.NotifyType.FAILURE,
    EventKind.MONITOR_REMINDER: apprise.NotifyType.FAILURE,
    EventKind.INCIDENT_OPENED: apprise.NotifyType.FAILURE,
    EventKind.MONITOR_DEGRADED: apprise.NotifyType.WARNING,
    EventKind.MONITOR_FLAPPING: apprise.NotifyType.WARNING,
    EventKind.INCIDENT_UPDATED: apprise.NotifyType.WARNING,
    EventKind.MONITOR_UP: apprise.NotifyType.SUCCESS,
    EventKind.INCIDENT_RESOLVED: apprise.NotifyType.SUCCESS,
}


# Their debug records quote request URLs and answers, tokens and all (requests, under
# Apprise, logs each request line through urllib3).
_CHATTY_LOGGERS = ("apprise", "urllib3.connectionpool")


class _NoDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _quiet_apprise_debug() -> None:
    for name in _CHATTY_LOGGERS:
        chatty = logging.getLogger(name)
        if not any(isinstance(existing, _NoDebug) for existing in chatty.filters):
            chatty.addFilter(_NoDebug())


def _notify(url: str, title: str, body: str, notify_type: str) -> bool | None:
    """In a worker thread: None when Apprise cannot use the URL, else whether it sent."""
    asset = apprise.AppriseAsset(app_id="Upstate", app_desc="Upstate")
    client = apprise.Apprise(asset=asset)
    if not client.add(url):
        return None
    return bool(client.notify(body=body, title=title, notify_type=notify_type))


async def send(channel: AppriseChannel, event: Event, ctx: NotifyContext) -> Delivery:
    url = channel.url.get_secret_value()
    _quiet_apprise_debug()
    notify_type = _TYPES.get(event.kind, apprise.NotifyType.INFO)
    title = text.headline(event)
    body = text.plain_body(event, ctx)
    try:
        async with asyncio.timeout(ctx.apprise_timeout):
            sent = await asyncio.to_thread(_notify, url, title, body, notify_type)
    except TimeoutError:
        return Delivery.retry(f"Apprise timed out after {ctx.apprise_timeout:g}s")
    except Exception as exc:  # a plugin's bug must not take the delivery loop down
        logger.warning("apprise raised channel=%s error=%s", channel.key, type(exc).__name__)
        return Delivery.retry(f"Apprise failed: {type(exc).__name__}")
    if sent is None:
        return Delivery.permanent("Apprise does not recognise this URL (unknown scheme or form)")
    if not sent:
        return Delivery.retry("Apprise could not deliver (the service refused or was unreachable)")
    return Delivery.ok()
