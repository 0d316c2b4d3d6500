"""Events as the outbox hands them to channels; channel configs as the loader builds them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from upstate.config.notifications import (
    AppriseChannel,
    EmailChannel,
    PagerDutyChannel,
    WebhookChannel,
)
from upstate.domain.enums import Status
from upstate.notify.events import (
    Event,
    EventIncident,
    EventKind,
    EventMaintenance,
    EventMonitor,
    EventObservation,
    Link,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def monitor_event(
    kind: EventKind = EventKind.MONITOR_DOWN,
    *,
    name: str = "Public API",
    key: str = "public-api",
    source: str = "status-change:1",
    **changes: Any,
) -> Event:
    status, previous = {
        EventKind.MONITOR_DOWN: (Status.DOWN, Status.UP),
        EventKind.MONITOR_DEGRADED: (Status.DEGRADED, Status.UP),
        EventKind.MONITOR_UP: (Status.UP, Status.DOWN),
        EventKind.MONITOR_REMINDER: (Status.DOWN, Status.DOWN),
        EventKind.MONITOR_FLAPPING: (Status.DOWN, Status.UP),
    }[kind]
    values: dict[str, Any] = {
        "kind": kind,
        "occurred_at": NOW,
        "idempotency_key": f"{source}/channel",
        "monitor": EventMonitor(key, name, status, previous),
        "observation": EventObservation(503, None, 120.5) if status is not Status.UP else None,
        "reason": "status code 503, expected 200" if status is Status.DOWN else None,
        "links": (Link("/monitors/public-api", "Open in Upstate"),),
    }
    return Event(**(values | changes))


def incident_event(
    kind: EventKind = EventKind.INCIDENT_OPENED,
    *,
    status: str = "investigating",
    impact: str = "major",
    source: str = "incident-update:1",
) -> Event:
    return Event(
        kind=kind,
        occurred_at=NOW,
        idempotency_key=f"{source}/channel",
        incident=EventIncident("42", "Database is slow", status, impact),
    )


def maintenance_event(kind: EventKind = EventKind.MAINTENANCE_STARTED) -> Event:
    return Event(
        kind=kind,
        occurred_at=NOW,
        idempotency_key="maintenance:3/channel",
        maintenance=EventMaintenance("3", "Database upgrade", "in_progress", NOW, NOW),
    )


def webhook(url: str, **fields: Any) -> WebhookChannel:
    return WebhookChannel.model_validate({"key": "hook", "url": url, **fields})


def pagerduty(routing_key: str) -> PagerDutyChannel:
    return PagerDutyChannel.model_validate({"key": "pager", "routing_key": routing_key})


def apprise(url: str) -> AppriseChannel:
    return AppriseChannel.model_validate({"key": "chat", "url": url})


def email(to: list[str], **fields: Any) -> EmailChannel:
    return EmailChannel.model_validate({"key": "mail", "to": to, **fields})
