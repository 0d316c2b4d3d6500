"""What a channel is asked to tell: one Event, frozen, that survives a trip through JSON.

The outbox stores `event.to_dict()` in the same transaction as the change that caused it
and hands `Event.from_dict(row)` to a channel later, possibly after a restart, so every
field is plain data: facts about the monitor, incident, maintenance window and probe
observation involved, plus the human text (title, summary, reason, links) written when the
event was made. Channels render from these facts only; they never look anything up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from upstate.domain.enums import Status
from upstate.domain.observation import Observation

SCHEMA_VERSION = 1


class EventKind(StrEnum):
    """The webhook event names; they match domain.routing.AlertKind and
    domain.maintenance.NoticeKind value for value, so the outbox maps by value
    (SUBSCRIPTION_CONFIRM is the subscribers' own)."""

    MONITOR_DOWN = "monitor.down"
    MONITOR_DEGRADED = "monitor.degraded"
    MONITOR_UP = "monitor.up"
    MONITOR_REMINDER = "monitor.reminder"  # still down, `remind_every` later
    MONITOR_FLAPPING = "monitor.flapping"
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_RESOLVED = "incident.resolved"
    MAINTENANCE_SCHEDULED = "maintenance.scheduled"
    MAINTENANCE_REMINDER = "maintenance.reminder"  # an hour before it starts
    MAINTENANCE_STARTED = "maintenance.started"
    MAINTENANCE_COMPLETED = "maintenance.completed"
    # To a new email subscriber of a status page, carrying the confirm link (double
    # opt-in); no other channel is sent it (PagerDuty skips it).
    SUBSCRIPTION_CONFIRM = "subscription.confirm"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class EventMonitor:
    key: str
    name: str
    status: Status
    previous_status: Status | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "status": self.status.value,
            "previous_status": self.previous_status.value if self.previous_status else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventMonitor:
        previous = data.get("previous_status")
        return cls(
            key=data["key"],
            name=data["name"],
            status=Status(data["status"]),
            previous_status=Status(previous) if previous else None,
        )


@dataclass(frozen=True, slots=True)
class EventIncident:
    """`status` and `impact` use the Statuspage words (investigating…, none|minor|…)."""

    id: str
    title: str
    status: str
    impact: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status, "impact": self.impact}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventIncident:
        return cls(
            id=str(data["id"]), title=data["title"], status=data["status"], impact=data["impact"]
        )


@dataclass(frozen=True, slots=True)
class EventMaintenance:
    id: str
    title: str
    status: str  # scheduled | in_progress | verifying | completed
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "starts_at": format_time(self.starts_at) if self.starts_at else None,
            "ends_at": format_time(self.ends_at) if self.ends_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventMaintenance:
        starts, ends = data.get("starts_at"), data.get("ends_at")
        return cls(
            id=str(data["id"]),
            title=data["title"],
            status=data["status"],
            starts_at=parse_time(starts) if starts else None,
            ends_at=parse_time(ends) if ends else None,
        )


@dataclass(frozen=True, slots=True)
class EventObservation:
    """The few facts of the observation that caused the event: enough to act on, no body."""

    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None

    @classmethod
    def of(cls, observation: Observation) -> EventObservation:
        return cls(
            status_code=observation.status_code,
            error=observation.error.message if observation.error else None,
            duration_ms=round(observation.duration_ms, 1),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventObservation:
        return cls(
            status_code=data.get("status_code"),
            error=data.get("error"),
            duration_ms=data.get("duration_ms"),
        )


@dataclass(frozen=True, slots=True)
class Link:
    """`href` may be a path ("/incidents/7"): channels make it absolute with the base URL."""

    href: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"href": self.href, "text": self.text}


@dataclass(frozen=True, slots=True)
class Event:
    """One thing to tell. `idempotency_key` is unique per event and channel: receivers that
    see it twice (a retry after a lost answer) can drop the second copy."""

    kind: EventKind
    occurred_at: datetime
    idempotency_key: str
    monitor: EventMonitor | None = None
    incident: EventIncident | None = None
    maintenance: EventMaintenance | None = None
    observation: EventObservation | None = None
    title: str = ""  # overrides the headline derived from the facts
    summary: str = ""  # overrides the sentence derived from the facts
    reason: str | None = None  # why, in words: failed conditions, an update's body…
    links: tuple[Link, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "kind": self.kind.value,
            "occurred_at": format_time(self.occurred_at),
            "idempotency_key": self.idempotency_key,
            "monitor": self.monitor.to_dict() if self.monitor else None,
            "incident": self.incident.to_dict() if self.incident else None,
            "maintenance": self.maintenance.to_dict() if self.maintenance else None,
            "observation": self.observation.to_dict() if self.observation else None,
            "title": self.title,
            "summary": self.summary,
            "reason": self.reason,
            "links": [link.to_dict() for link in self.links],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """The inverse of to_dict; raises ValueError or KeyError on a malformed dict."""
        version = data.get("v", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"unknown event schema version {version!r}")
        monitor, incident = data.get("monitor"), data.get("incident")
        maintenance, observation = data.get("maintenance"), data.get("observation")
        return cls(
            kind=EventKind(data["kind"]),
            occurred_at=parse_time(data["occurred_at"]),
            idempotency_key=data["idempotency_key"],
            monitor=EventMonitor.from_dict(monitor) if monitor else None,
            incident=EventIncident.from_dict(incident) if incident else None,
            maintenance=EventMaintenance.from_dict(maintenance) if maintenance else None,
            observation=EventObservation.from_dict(observation) if observation else None,
            title=data.get("title") or "",
            summary=data.get("summary") or "",
            reason=data.get("reason"),
            links=tuple(Link(item["href"], item["text"]) for item in data.get("links") or ()),
        )


def idempotency_key(source: str, channel_key: str) -> str:
    """The key of one event on one channel, e.g. ("status-change:812", "ops-mail").

    `source` names what caused the event, stably (a row id, not a time), so that writing
    the outbox twice for the same cause yields the same key.
    """
    return f"{source}/{channel_key}"


def build_test_event(channel_key: str, now: datetime, nonce: str | None = None) -> Event:
    """The event of "send a test" (API and `upstate notify test KEY`): no monitor, no
    incident, a fresh idempotency key each time so a second test is not deduplicated."""
    return Event(
        kind=EventKind.TEST,
        occurred_at=now,
        idempotency_key=idempotency_key(f"test:{nonce or uuid.uuid4().hex}", channel_key),
        title="Test notification",
        summary=(
            f"This is a test notification from Upstate for the channel '{channel_key}'. "
            "If you can read it, the channel works."
        ),
    )


def format_time(moment: datetime) -> str:
    """UTC, ISO 8601 with a Z, milliseconds at most: what every receiver parses."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
