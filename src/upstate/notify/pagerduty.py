"""PagerDuty channel: Events API v2 (`POST <events url>/v2/enqueue`).

A problem triggers an alert, its end resolves it, and both carry the same `dedup_key`:
`upstate/incident/<id>` for incident events, `upstate/monitor/<key>` for a monitor's
outage (PagerDuty opens a new alert for a key whose alert was resolved, so one key per
monitor is one alert per outage). Maintenance is not paged: those events are skipped.
A test triggers an `info` alert and resolves it at once.

Answers (PagerDuty's own table): 202 accepted; 400 the event or the routing key is wrong,
so sending it again cannot help (permanent); 429 and 5xx and network errors: retry.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from upstate.config.notifications import PagerDutyChannel
from upstate.notify import text
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Delivery
from upstate.notify.events import Event, EventKind, format_time
from upstate.notify.transport import post

MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255

_TRIGGER_SEVERITY = {
    EventKind.MONITOR_DOWN: "critical",
    EventKind.MONITOR_REMINDER: "critical",  # a new alert if someone resolved it by hand
    EventKind.MONITOR_DEGRADED: "warning",
    EventKind.MONITOR_FLAPPING: "warning",
    EventKind.TEST: "info",
}
_IMPACT_SEVERITY = {"critical": "critical", "major": "error", "minor": "warning", "none": "info"}
_RESOLVING = {EventKind.MONITOR_UP, EventKind.INCIDENT_RESOLVED}
_CLOSED_INCIDENT = {"resolved", "postmortem"}


def dedup_key(event: Event) -> str:
    if event.kind is EventKind.TEST:
        key = f"upstate/test/{event.idempotency_key}"
    elif event.kind.value.startswith("incident.") and event.incident:
        key = f"upstate/incident/{event.incident.id}"
    elif event.monitor:
        key = f"upstate/monitor/{event.monitor.key}"
    else:
        key = f"upstate/event/{event.idempotency_key}"
    return key[:MAX_DEDUP_KEY]


def action(event: Event) -> str | None:
    """trigger, resolve, or None when PagerDuty is not told about this kind of event."""
    if event.kind in _RESOLVING:
        return "resolve"
    if event.kind in _TRIGGER_SEVERITY:
        return "trigger"
    if event.kind in (EventKind.INCIDENT_OPENED, EventKind.INCIDENT_UPDATED) and event.incident:
        return "resolve" if event.incident.status in _CLOSED_INCIDENT else "trigger"
    return None


def trigger_body(routing_key: str, event: Event, ctx: NotifyContext) -> dict[str, Any]:
    severity = _TRIGGER_SEVERITY.get(event.kind)
    if severity is None:
        impact = event.incident.impact if event.incident else "major"
        severity = _IMPACT_SEVERITY.get(impact, "error")
    summary = f"{text.headline(event)}: {text.summary(event)}"
    details: dict[str, Any] = {"event": event.kind.value}
    data = event.to_dict()
    for name in ("monitor", "incident", "observation", "reason"):
        if data[name] is not None:
            details[name] = data[name]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(event),
        "payload": {
            "summary": text.one_line(summary)[:MAX_SUMMARY],
            "source": _source(event, ctx),
            "severity": severity,
            "timestamp": format_time(event.occurred_at),
            "class": event.kind.value,
            "custom_details": details,
        },
        "client": "Upstate",
        "links": [{"href": href, "text": label} for href, label in text.links(event, ctx)],
    }
    if event.monitor:
        body["payload"]["component"] = event.monitor.key
    if ctx.base_url:
        body["client_url"] = ctx.base_url
    return body


def resolve_body(routing_key: str, event: Event) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(event)}


async def send(channel: PagerDutyChannel, event: Event, ctx: NotifyContext) -> Delivery:
    routing_key = channel.routing_key.get_secret_value()
    what = action(event)
    if what is None:
        return Delivery.skipped(f"PagerDuty is not paged for {event.kind.value}")
    if what == "trigger":
        delivery = await _enqueue(ctx, channel, trigger_body(routing_key, event, ctx))
        if event.kind is not EventKind.TEST or not delivery.done:
            return delivery
    return await _enqueue(ctx, channel, resolve_body(routing_key, event))


async def _enqueue(ctx: NotifyContext, channel: PagerDutyChannel, body: dict[str, Any]) -> Delivery:
    routing_key = channel.routing_key.get_secret_value()
    base = ctx.pagerduty_eu_url if channel.region == "eu" else ctx.pagerduty_url
    url = base.rstrip("/") + "/v2/enqueue"
    headers = {"Content-Type": "application/json"}
    reply = await post(ctx, url, json.dumps(body).encode(), headers, (routing_key,))
    delivery = reply.delivery
    if delivery.done:
        try:
            answer = json.loads(reply.body)
            remote = answer.get("dedup_key") if isinstance(answer, dict) else None
        except ValueError:
            remote = None
        return Delivery.ok(status_code=delivery.status_code, remote_id=remote or body["dedup_key"])
    return delivery


def _source(event: Event, ctx: NotifyContext) -> str:
    if event.monitor:
        return event.monitor.key
    host = urlsplit(ctx.base_url).hostname if ctx.base_url else None
    return host or "upstate"
