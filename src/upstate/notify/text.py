"""The words of a notification, shared by every channel: a headline, a sentence, the facts.

"DOWN: Public API" reads the same in a mail subject, a PagerDuty summary and a chat
message. An event's own `title` or `summary`, when given, wins over the derived ones.
"""

from __future__ import annotations

from upstate.domain.enums import Status
from upstate.notify.base import NotifyContext
from upstate.notify.events import Event, EventKind, format_time

_MONITOR_VERBS = {
    EventKind.MONITOR_DOWN: "DOWN",
    EventKind.MONITOR_DEGRADED: "DEGRADED",
    EventKind.MONITOR_UP: "UP",
    EventKind.MONITOR_REMINDER: "STILL DOWN",
    EventKind.MONITOR_FLAPPING: "FLAPPING",
}
_OTHER_VERBS = {
    EventKind.INCIDENT_OPENED: "Incident",
    EventKind.INCIDENT_UPDATED: "Incident update",
    EventKind.INCIDENT_RESOLVED: "Resolved",
    EventKind.MAINTENANCE_SCHEDULED: "Maintenance scheduled",
    EventKind.MAINTENANCE_REMINDER: "Maintenance soon",
    EventKind.MAINTENANCE_STARTED: "Maintenance started",
    EventKind.MAINTENANCE_COMPLETED: "Maintenance completed",
    EventKind.SUBSCRIPTION_CONFIRM: "Confirm your subscription",
}


def subject_of(event: Event) -> str:
    return one_line(f"[Upstate] {headline(event)}")


def headline(event: Event) -> str:
    """'DOWN: Public API', 'Incident: Database slow', 'Test notification'."""
    if event.title:
        return one_line(event.title)
    verb = _MONITOR_VERBS.get(event.kind) or _OTHER_VERBS.get(event.kind, "Notice")
    name = _subject_name(event)
    return one_line(f"{verb}: {name}" if name else verb)


def summary(event: Event) -> str:
    """One or two sentences saying what happened, for people who read nothing else."""
    if event.summary:
        return event.summary
    if event.monitor and event.kind in _MONITOR_VERBS:
        monitor = event.monitor
        if event.kind is EventKind.MONITOR_FLAPPING:
            said = f"{monitor.name} is flapping; further changes stay quiet until it settles."
        elif event.kind is EventKind.MONITOR_UP:
            said = f"{monitor.name} is up again."
        elif event.kind is EventKind.MONITOR_REMINDER:
            said = f"{monitor.name} is still {_status_words(monitor.status)}."
        else:
            said = f"{monitor.name} is {_status_words(monitor.status)}"
            if monitor.previous_status:
                said += f" (was {_status_words(monitor.previous_status)})"
            said += "."
        return said + _observed(event)
    if event.incident:
        incident = event.incident
        return f"{incident.title}: {incident.status}, impact {incident.impact}."
    if event.maintenance:
        window = event.maintenance
        if event.kind is EventKind.MAINTENANCE_COMPLETED:
            return f"Maintenance '{window.title}' is completed."
        until = f" until {format_time(window.ends_at)}" if window.ends_at else ""
        if event.kind is EventKind.MAINTENANCE_STARTED:
            return f"Maintenance '{window.title}' is in progress{until}."
        start = f" from {format_time(window.starts_at)}" if window.starts_at else ""
        return f"Maintenance '{window.title}' is scheduled{start}{until}."
    return headline(event)


def facts(event: Event) -> list[tuple[str, str]]:
    """(label, value) rows for the body of a message; only the facts the event has."""
    rows: list[tuple[str, str]] = [("Event", event.kind.value)]
    if event.monitor:
        rows.append(("Monitor", f"{event.monitor.name} ({event.monitor.key})"))
        status = _status_words(event.monitor.status)
        if event.monitor.previous_status:
            status += f" (was {_status_words(event.monitor.previous_status)})"
        rows.append(("Status", status))
    if event.incident:
        rows.append(("Incident", event.incident.title))
        rows.append(("Incident status", event.incident.status))
        rows.append(("Impact", event.incident.impact))
    if event.maintenance:
        rows.append(("Maintenance", event.maintenance.title))
        if event.maintenance.starts_at:
            rows.append(("Starts", format_time(event.maintenance.starts_at)))
        if event.maintenance.ends_at:
            rows.append(("Ends", format_time(event.maintenance.ends_at)))
    observation = event.observation
    if observation:
        if observation.status_code is not None:
            rows.append(("HTTP status", str(observation.status_code)))
        if observation.error:
            rows.append(("Error", observation.error))
        if observation.duration_ms is not None:
            rows.append(("Response time", f"{observation.duration_ms:.0f} ms"))
    if event.reason:
        rows.append(("Reason", event.reason))
    rows.append(("When", format_time(event.occurred_at)))
    return rows


def links(event: Event, ctx: NotifyContext) -> list[tuple[str, str]]:
    """(absolute URL, text) for each link that can be made absolute and safe."""
    out: list[tuple[str, str]] = []
    for link in event.links:
        href = ctx.absolute(link.href)
        if href:
            out.append((href, link.text))
    return out


def plain_body(event: Event, ctx: NotifyContext) -> str:
    """Summary, facts and links as plain text: the body of a chat message."""
    lines = [summary(event), ""]
    lines += [f"{label}: {value}" for label, value in facts(event)]
    for href, text in links(event, ctx):
        lines.append(f"{text}: {href}")
    return "\n".join(lines)


def one_line(text: str) -> str:
    """No line breaks: a subject or a header must never gain a second line."""
    return " ".join(text.split())


def _subject_name(event: Event) -> str:
    if event.kind in _MONITOR_VERBS and event.monitor:
        return event.monitor.name
    if event.incident:
        return event.incident.title
    if event.maintenance:
        return event.maintenance.title
    if event.monitor:
        return event.monitor.name
    return ""


def _status_words(status: Status) -> str:
    return {
        Status.UP: "up",
        Status.DEGRADED: "degraded",
        Status.DOWN: "down",
        Status.MAINTENANCE: "in maintenance",
        Status.UNKNOWN: "unknown",
        Status.PAUSED: "paused",
    }[status]


def _observed(event: Event) -> str:
    observation = event.observation
    if observation is None:
        return ""
    if observation.error:
        return f" {observation.error}."
    if observation.status_code is not None:
        return f" HTTP {observation.status_code}."
    return ""
