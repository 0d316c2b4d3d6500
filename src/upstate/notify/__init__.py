"""Notification channels: one module per kind, each `async def send(channel, event, ctx)`.

CHANNELS is the one registration table, keyed by the config's channel `kind`. `send` here
dispatches on it and logs the outcome; the outbox (a later layer) calls it, reads the
Delivery, and owns retries, ordering and the channel's failing state. See notify.base for
the contract, notify.events for what an event holds.
"""

from __future__ import annotations

import logging
import time

from upstate.config.notifications import Channel
from upstate.notify import apprise, email, pagerduty, webhook
from upstate.notify.base import NotifyContext, SendFn, http_client
from upstate.notify.delivery import Delivery, Outcome
from upstate.notify.events import (
    Event,
    EventIncident,
    EventKind,
    EventMaintenance,
    EventMonitor,
    EventObservation,
    Link,
    build_test_event,
    idempotency_key,
)

logger = logging.getLogger(__name__)

CHANNELS: dict[str, SendFn] = {
    "email": email.send,
    "webhook": webhook.send,
    "pagerduty": pagerduty.send,
    "apprise": apprise.send,
}


async def send(channel: Channel, event: Event, ctx: NotifyContext) -> Delivery:
    """Send `event` on `channel`. Never raises: even a bug here becomes a retry, logged."""
    started = time.perf_counter()
    try:
        delivery = await CHANNELS[channel.kind](channel, event, ctx)
    except Exception as exc:
        logger.exception(
            "notify crashed channel=%s kind=%s event=%s error=%s",
            channel.key,
            channel.kind,
            event.kind.value,
            type(exc).__name__,
        )
        return Delivery.retry(f"internal error: {type(exc).__name__}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    fields = (channel.key, channel.kind, event.kind.value, event.idempotency_key, elapsed_ms)
    if delivery.done:
        logger.info(
            "notify %s channel=%s kind=%s event=%s key=%s ms=%.0f",
            delivery.outcome.value,
            *fields,
        )
    else:
        logger.warning(
            "notify failed outcome=%s channel=%s kind=%s event=%s key=%s ms=%.0f error=%s",
            delivery.outcome.value,
            *fields,
            delivery.error,
        )
    return delivery


__all__ = [
    "CHANNELS",
    "Delivery",
    "Event",
    "EventIncident",
    "EventKind",
    "EventMaintenance",
    "EventMonitor",
    "EventObservation",
    "Link",
    "NotifyContext",
    "Outcome",
    "build_test_event",
    "http_client",
    "idempotency_key",
    "send",
]
