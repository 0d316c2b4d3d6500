"""The words every channel shares, for every kind of event there is."""

from __future__ import annotations

import pytest

from tests.notify.samples import incident_event, maintenance_event, monitor_event
from upstate.notify import pagerduty, text, webhook
from upstate.notify.base import NotifyContext
from upstate.notify.events import Event, EventKind, Link, build_test_event

CTX = NotifyContext(http=None, base_url="https://status.example")  # type: ignore[arg-type]


def sample(kind: EventKind) -> Event:
    family = kind.value.split(".")[0]
    if family == "monitor":
        return monitor_event(kind)
    if family == "incident":
        return incident_event(kind)
    if family == "maintenance":
        return maintenance_event(kind)
    if family == "subscription":
        return Event(
            kind=kind,
            occurred_at=monitor_event().occurred_at,
            idempotency_key="subscription-confirm:1/subscriber:1",
            title="Confirm your subscription to Acme",
            links=(Link("/s/acme/confirm/tok", "Confirm subscription"),),
        )
    return build_test_event("ops", monitor_event().occurred_at)


@pytest.mark.parametrize("kind", list(EventKind))
def test_it_has_words_for_every_kind_of_event(kind: EventKind) -> None:
    event = sample(kind)

    assert text.headline(event)
    assert text.summary(event)
    assert text.subject_of(event).startswith("[Upstate] ")
    assert webhook.payload(event, CTX)["event"] == kind.value
    assert pagerduty.action(event) in ("trigger", "resolve", None)


@pytest.mark.parametrize(
    ("event", "headline", "summary"),
    [
        (monitor_event(), "DOWN: Public API", "Public API is down (was up). HTTP 503."),
        (monitor_event(EventKind.MONITOR_UP), "UP: Public API", "Public API is up again."),
        (
            monitor_event(EventKind.MONITOR_REMINDER),
            "STILL DOWN: Public API",
            "Public API is still down. HTTP 503.",
        ),
        (
            incident_event(),
            "Incident: Database is slow",
            "Database is slow: investigating, impact major.",
        ),
        (
            maintenance_event(EventKind.MAINTENANCE_COMPLETED),
            "Maintenance completed: Database upgrade",
            "Maintenance 'Database upgrade' is completed.",
        ),
        (build_test_event("ops", monitor_event().occurred_at), "Test notification", None),
    ],
)
def test_it_says_what_happened(event: Event, headline: str, summary: str | None) -> None:
    assert text.headline(event) == headline
    if summary is not None:
        assert text.summary(event) == summary


def test_it_makes_links_absolute_and_drops_the_unsafe_ones() -> None:
    event = monitor_event(
        links=(
            Link("/incidents/7", "Incident"),
            Link("https://elsewhere.example/x", "Elsewhere"),
            Link("javascript:alert(1)", "Evil"),
            Link("//evil.example/x", "Protocol-relative"),
        )
    )

    assert text.links(event, CTX) == [
        ("https://status.example/incidents/7", "Incident"),
        ("https://elsewhere.example/x", "Elsewhere"),
    ]
    assert text.links(event, NotifyContext(http=None)) == [  # type: ignore[arg-type]
        ("https://elsewhere.example/x", "Elsewhere")
    ]


@pytest.mark.parametrize(
    ("module", "name"),
    [("upstate.domain.routing", "AlertKind"), ("upstate.domain.maintenance", "NoticeKind")],
)
def test_it_names_events_as_the_domain_does(module: str, name: str) -> None:
    domain = pytest.importorskip(module)

    assert {kind.value for kind in getattr(domain, name)} <= {kind.value for kind in EventKind}
