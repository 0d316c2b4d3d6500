"""Events survive the outbox: to_dict, through JSON text, and back, unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.notify.samples import NOW, incident_event, maintenance_event, monitor_event
from upstate.domain.enums import ErrorKind, MonitorKind
from upstate.domain.observation import Observation, ProbeError
from upstate.notify.events import (
    Event,
    EventKind,
    EventObservation,
    build_test_event,
    format_time,
    idempotency_key,
)


@pytest.mark.parametrize(
    "event",
    [
        monitor_event(),
        monitor_event(EventKind.MONITOR_UP, title="Custom", summary="Said otherwise"),
        incident_event(EventKind.INCIDENT_RESOLVED, status="resolved"),
        maintenance_event(),
        build_test_event("ops", NOW, nonce="abc"),
    ],
    ids=lambda event: event.kind.value,
)
def test_it_comes_back_unchanged_through_json(event: Event) -> None:
    stored = json.dumps(event.to_dict())

    assert Event.from_dict(json.loads(stored)) == event


def test_it_stores_times_as_utc_with_a_z() -> None:
    paris = timezone(timedelta(hours=1))
    event = monitor_event(occurred_at=datetime(2025, 3, 1, 13, 0, 0, 123456, tzinfo=paris))

    assert event.to_dict()["occurred_at"] == "2025-03-01T12:00:00.123Z"
    assert Event.from_dict(event.to_dict()).occurred_at == datetime(
        2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC
    )
    assert format_time(datetime(2025, 1, 1)) == "2025-01-01T00:00:00.000Z"


def test_it_refuses_an_unknown_kind_or_schema() -> None:
    data = monitor_event().to_dict()

    with pytest.raises(ValueError, match=r"monitor\.exploded"):
        Event.from_dict(data | {"kind": "monitor.exploded"})
    with pytest.raises(ValueError, match="schema version"):
        Event.from_dict(data | {"v": 2})


def test_it_gives_each_test_a_fresh_key_and_each_cause_a_stable_one() -> None:
    first, second = build_test_event("ops", NOW), build_test_event("ops", NOW)

    assert first.kind is EventKind.TEST
    assert first.monitor is None
    assert first.idempotency_key != second.idempotency_key
    assert idempotency_key("status-change:7", "ops") == idempotency_key("status-change:7", "ops")
    assert idempotency_key("status-change:7", "ops") != idempotency_key("status-change:7", "pd")


def test_it_takes_only_the_facts_it_needs_from_an_observation() -> None:
    observation = Observation(
        kind=MonitorKind.HTTP,
        target="https://api.example/health?token=abc",
        region="local",
        started_at=NOW,
        duration_ms=1234.5678,
        status_code=None,
        body=b"secret body",
        error=ProbeError(ErrorKind.TIMEOUT, "timed out"),
    )

    facts = EventObservation.of(observation)

    assert facts == EventObservation(status_code=None, error="timed out", duration_ms=1234.6)
