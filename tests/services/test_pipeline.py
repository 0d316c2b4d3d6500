from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from upstate.config.loader import load_config_text
from upstate.domain.check import judge
from upstate.domain.enums import ComponentStatus, ErrorKind, MonitorKind, Status
from upstate.domain.observation import (
    Observation,
    Phases,
    ProbeError,
    StatuspageFacts,
    UpstreamComponent,
    UpstreamIncident,
)
from upstate.domain.push import PushState
from upstate.domain.status import MonitorState
from upstate.services.checks import CheckResult
from upstate.services.pipeline import PingKind, composite_outcome, evaluate, ping_outcome
from upstate.services.runtime import RuntimeMonitor, runtime_from_model

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
CONFIG = """
monitors:
  - {key: api, kind: http, url: "http://127.0.0.1:8080/health", failure_threshold: 2,
     extract: {build: "[BODY].build"}}
  - {key: db, kind: tcp, host: 127.0.0.1, port: 5432}
  - {key: cron, kind: push, period: 1h, grace: 5m}
  - {key: shop, kind: composite, monitors: [api, db]}
"""


def monitor(key: str) -> RuntimeMonitor:
    model = load_config_text(CONFIG).monitor(key)
    assert model is not None
    return runtime_from_model(42, model, created_at=NOW - timedelta(days=1))


def checked(at: datetime, *, status: int | None = 200, failed: bool = False) -> CheckResult:
    api = monitor("api")
    assert api.definition is not None
    observation = Observation(
        kind=MonitorKind.HTTP,
        target="http://127.0.0.1:8080/health",
        region="local",
        started_at=at,
        duration_ms=12.5,
        phases=Phases(connect=0.5, ttfb=10.0),
        status_code=None if failed else status,
        body=b'{"build": "1.2.3"}',
        headers=(("Content-Type", "application/json"),),
        error=ProbeError(ErrorKind.CONNECTION_REFUSED, "connection refused") if failed else None,
    )
    return CheckResult(api.definition, observation, judge(api.definition, observation, at))


def test_it_turns_an_observation_into_a_row_and_a_first_status() -> None:
    outcome = evaluate(monitor("api"), MonitorState(), checked(NOW), NOW)
    assert outcome.monitor_id == 42
    assert outcome.state.status is Status.UP
    assert outcome.checked_at == NOW
    [change] = outcome.changes
    assert (change.previous, change.status, change.region) == (Status.UNKNOWN, Status.UP, "local")
    row = outcome.row
    assert row is not None
    assert (row.status, row.status_code, row.duration_ms, row.connect_ms) == (
        Status.UP,
        200,
        12.5,
        0.5,
    )
    assert row.extracted == {"build": "1.2.3"}


def test_it_writes_a_change_only_when_the_threshold_is_crossed() -> None:
    api = monitor("api")
    state = evaluate(api, MonitorState(), checked(NOW), NOW).state
    first = evaluate(api, state, checked(NOW + timedelta(minutes=1), failed=True), NOW)
    assert (first.state.status, first.changes) == (Status.UP, ())
    assert first.row is not None
    assert (first.row.status, first.row.error_kind) == (Status.DOWN, ErrorKind.CONNECTION_REFUSED)
    later = NOW + timedelta(minutes=2)
    second = evaluate(api, first.state, checked(later, status=503), later)
    assert second.state.status is Status.DOWN
    [change] = second.changes
    assert change.previous is Status.UP
    assert "2 consecutive failures" in change.reason


def test_it_refuses_nothing_but_records_results_of_a_paused_monitor() -> None:
    paused = replace(MonitorState(), paused=True, status=Status.PAUSED)
    outcome = evaluate(monitor("api"), paused, checked(NOW, failed=True), NOW)
    assert outcome.state is paused
    assert outcome.changes == ()
    assert outcome.row is not None


def test_it_takes_a_push_monitors_pings() -> None:
    cron = monitor("cron")
    memory = PushState(created_at=NOW - timedelta(days=1))
    started, duration = ping_outcome(cron, MonitorState(), memory, PingKind.START, NOW, None, NOW)
    assert (started.state, started.changes, duration) == (MonitorState(), (), None)
    assert started.push is not None
    assert started.push.started_at == NOW
    done_at = NOW + timedelta(seconds=90)
    done, duration = ping_outcome(
        cron, started.state, started.push, PingKind.EXIT, done_at, 3, done_at
    )
    assert duration == 90_000
    assert done.state.status is Status.DOWN  # failure_threshold 1: an exit status of 3 is down
    assert done.checked_at == done_at
    assert done.changes[0].reason == "exit status 3 after 1m30s"
    assert done.push is not None
    assert done.push.last_ping_at == done_at


def test_it_refuses_an_exit_status_out_of_range() -> None:
    memory = PushState(created_at=NOW)
    with pytest.raises(ValueError, match="0-255"):
        ping_outcome(monitor("cron"), MonitorState(), memory, PingKind.EXIT, NOW, 300, NOW)


def test_it_judges_a_composite_from_its_children() -> None:
    shop = monitor("shop")
    down = composite_outcome(shop, MonitorState(), {"api": Status.UP, "db": Status.DOWN}, NOW)
    assert down is not None
    assert down.state.status is Status.DOWN
    assert [c.status for c in down.changes] == [Status.DOWN]
    same = {"api": Status.UP, "db": Status.DOWN}
    assert composite_outcome(shop, down.state, same, NOW + timedelta(seconds=1)) is None
    unknown = composite_outcome(shop, down.state, {"api": Status.UNKNOWN}, NOW)
    assert unknown is None  # nothing to judge: missing evidence never changes it
    later = NOW + timedelta(seconds=2)
    maintained = composite_outcome(
        shop, down.state, {"api": Status.UP, "db": Status.MAINTENANCE}, later
    )
    assert maintained is not None
    assert maintained.state.status is Status.MAINTENANCE
    back = composite_outcome(shop, maintained.state, {"api": Status.UP, "db": Status.UP}, later)
    assert back is not None
    assert [(c.previous, c.status) for c in back.changes] == [(Status.MAINTENANCE, Status.UP)]


def test_it_keeps_a_statuspage_results_facts_for_the_board() -> None:
    api = monitor("api")
    result = checked(NOW)
    page = StatuspageFacts(
        indicator="minor",
        description="Partially degraded",
        components=(UpstreamComponent("Compute", ComponentStatus.PARTIAL_OUTAGE),),
        incidents=(UpstreamIncident("Slow VMs", "investigating", "minor"),),
    )
    observation = replace(result.observation, statuspage=page)
    outcome = evaluate(api, MonitorState(), replace(result, observation=observation), NOW)
    assert outcome.row is not None
    assert outcome.row.extracted == {
        "build": "1.2.3",
        "$statuspage": {
            "indicator": "minor",
            "description": "Partially degraded",
            "components": [{"name": "Compute", "status": "partial_outage"}],
            "incidents": [{"name": "Slow VMs", "status": "investigating", "impact": "minor"}],
        },
    }
