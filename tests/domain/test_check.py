"""The verdict: error, then conditions, then upstream status pages, then degraded_when."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from upstate.domain.check import CheckDefinition, default_conditions, judge
from upstate.domain.conditions import parse_condition, parse_value
from upstate.domain.enums import ComponentStatus, ErrorKind, MonitorKind, Status
from upstate.domain.observation import (
    CertInfo,
    DnsAnswer,
    IcmpStats,
    Observation,
    ProbeError,
    StatuspageFacts,
    UpstreamComponent,
)
from upstate.domain.specs import DnsSpec, HttpSpec, IcmpSpec, StatuspageSpec, TcpSpec, TlsSpec

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HTTP = HttpSpec(url="http://127.0.0.1:8080/health")


def observe(**changes: Any) -> Observation:
    fields: dict[str, Any] = {
        "kind": MonitorKind.HTTP,
        "target": HTTP.url,
        "region": "local",
        "started_at": NOW,
        "duration_ms": 120.0,
        "status_code": 200,
        "connected": True,
        "body": b'{"build": "1.2.3", "queue": 12}',
    }
    fields.update(changes)
    return Observation(**fields)


def define(
    *conditions: str,
    degraded_when: tuple[str, ...] = (),
    extract: dict[str, str] | None = None,
    spec: Any = HTTP,
) -> CheckDefinition:
    return CheckDefinition(
        key="api",
        name="API",
        spec=spec,
        conditions=tuple(parse_condition(c) for c in conditions),
        degraded_when=tuple(parse_condition(c) for c in degraded_when),
        extract=tuple((name, parse_value(text)) for name, text in (extract or {}).items()),
    )


def test_it_is_up_when_every_condition_passes() -> None:
    verdict = judge(define("[STATUS] == 200", "[BODY].queue < 100"), observe(), NOW)
    assert verdict.status is Status.UP
    assert verdict.reason == "all 2 conditions passed"
    assert [r.ok for r in verdict.conditions] == [True, True]
    assert verdict.degraded == ()


def test_it_is_down_when_a_condition_fails_and_says_which() -> None:
    verdict = judge(define("[STATUS] == 200"), observe(status_code=503), NOW)
    assert verdict.status is Status.DOWN
    assert verdict.reason == "[STATUS] (503) == 200 failed"


def test_it_counts_the_other_failures_in_the_reason() -> None:
    definition = define("[STATUS] == 200", "[BODY].queue < 10", "[BODY].build == 2.0.0")
    verdict = judge(definition, observe(status_code=500), NOW)
    assert verdict.reason == "[STATUS] (500) == 200 failed (and 2 more)"


def test_it_is_down_on_a_probe_error_but_still_shows_the_values() -> None:
    error = ProbeError(ErrorKind.TIMEOUT, "timed out after 10s during ttfb")
    verdict = judge(
        define("[CONNECTED] == true", "[RESPONSE_TIME] < 1s"),
        observe(error=error, status_code=None, connected=False, body=b"", duration_ms=10000.0),
        NOW,
    )
    assert verdict.status is Status.DOWN
    assert verdict.reason == "timeout: timed out after 10s during ttfb"
    assert [str(r) for r in verdict.conditions] == [
        "[CONNECTED] (false) == true",
        "[RESPONSE_TIME] (10000) < 1s",
    ]


def test_it_reports_the_probe_error_even_when_conditions_pass() -> None:
    error = ProbeError(ErrorKind.TLS_ERROR, "certificate has expired")
    verdict = judge(define("[CONNECTED] == true"), observe(error=error), NOW)
    assert (verdict.status, verdict.reason) == (Status.DOWN, "tls_error: certificate has expired")


def test_it_is_degraded_when_a_degraded_when_condition_holds() -> None:
    definition = define("[STATUS] == 200", degraded_when=("[RESPONSE_TIME] > 300",))
    verdict = judge(definition, observe(duration_ms=412.0), NOW)
    assert verdict.status is Status.DEGRADED
    assert verdict.reason == "[RESPONSE_TIME] (412) > 300 holds"
    assert [r.ok for r in verdict.degraded] == [True]
    assert judge(definition, observe(duration_ms=200.0), NOW).status is Status.UP


def test_it_prefers_down_to_degraded() -> None:
    definition = define("[STATUS] == 200", degraded_when=("[RESPONSE_TIME] > 300",))
    verdict = judge(definition, observe(status_code=502, duration_ms=900.0), NOW)
    assert verdict.status is Status.DOWN
    assert [r.ok for r in verdict.degraded] == [True]  # evaluated all the same


def test_it_applies_the_kind_defaults_when_a_monitor_gives_no_conditions() -> None:
    assert judge(define(), observe(status_code=302), NOW).status is Status.UP
    verdict = judge(define(), observe(status_code=404), NOW)
    assert (verdict.status, verdict.reason) == (Status.DOWN, "[STATUS] (404) < 400 failed")
    assert define().effective_conditions == default_conditions(MonitorKind.HTTP)


@pytest.mark.parametrize(
    ("kind", "texts"),
    [
        (MonitorKind.HTTP, ["[STATUS] < 400"]),
        (MonitorKind.TCP, ["[CONNECTED] == true"]),
        (MonitorKind.DNS, ["[DNS_RCODE] == NOERROR"]),
        (MonitorKind.ICMP, ["[PACKET_LOSS] < 100"]),
        (MonitorKind.TLS, ["[CERTIFICATE_EXPIRATION] > 0"]),
        (MonitorKind.STATUSPAGE, []),
        (MonitorKind.PUSH, []),
    ],
)
def test_it_has_default_conditions_per_kind(kind: MonitorKind, texts: list[str]) -> None:
    assert [c.text for c in default_conditions(kind)] == texts


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [
        (
            TcpSpec(host="127.0.0.1", port=22),
            {"kind": MonitorKind.TCP, "connected": True},
            {"kind": MonitorKind.TCP, "connected": False},
        ),
        (
            DnsSpec(name="example.test"),
            {"kind": MonitorKind.DNS, "dns": DnsAnswer("NOERROR", "A", ("10.0.0.1",))},
            {"kind": MonitorKind.DNS, "dns": DnsAnswer("NXDOMAIN", "A")},
        ),
        (
            IcmpSpec(host="127.0.0.1"),
            {"kind": MonitorKind.ICMP, "icmp": IcmpStats(3, 1, 66.7)},
            {"kind": MonitorKind.ICMP, "icmp": IcmpStats(3, 0, 100.0)},
        ),
        (
            TlsSpec(host="127.0.0.1"),
            {"kind": MonitorKind.TLS, "cert": CertInfo("s", "i", NOW, NOW + timedelta(days=1))},
            {"kind": MonitorKind.TLS, "cert": CertInfo("s", "i", NOW, NOW - timedelta(days=1))},
        ),
    ],
)
def test_it_judges_each_kind_by_its_defaults(
    spec: Any, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    definition = define(spec=spec)
    assert judge(definition, observe(**good), NOW).status is Status.UP
    assert judge(definition, observe(**bad), NOW).status is Status.DOWN


def upstream(*statuses: tuple[str, ComponentStatus]) -> StatuspageFacts:
    return StatuspageFacts(
        indicator="minor",
        description="",
        components=tuple(UpstreamComponent(name, status) for name, status in statuses),
    )


STATUSPAGE = StatuspageSpec(url="http://127.0.0.1:8080")


@pytest.mark.parametrize(
    ("components", "status", "reason"),
    [
        ((), Status.UP, "every upstream component is operational"),
        (
            (("API", ComponentStatus.OPERATIONAL),),
            Status.UP,
            "every upstream component is operational",
        ),
        (
            (("API", ComponentStatus.DEGRADED_PERFORMANCE),),
            Status.DEGRADED,
            "upstream API: degraded_performance",
        ),
        (
            (("API", ComponentStatus.UNDER_MAINTENANCE),),
            Status.DEGRADED,
            "upstream API: under_maintenance",
        ),
        (
            (("API", ComponentStatus.PARTIAL_OUTAGE),),
            Status.DOWN,
            "upstream API: partial_outage",
        ),
        (
            (
                ("Web", ComponentStatus.DEGRADED_PERFORMANCE),
                ("API", ComponentStatus.MAJOR_OUTAGE),
                ("CDN", ComponentStatus.OPERATIONAL),
            ),
            Status.DOWN,
            "upstream API: major_outage (and 1 more)",
        ),
    ],
)
def test_it_takes_the_worst_upstream_component(
    components: tuple[tuple[str, ComponentStatus], ...], status: Status, reason: str
) -> None:
    observation = observe(kind=MonitorKind.STATUSPAGE, statuspage=upstream(*components))
    verdict = judge(define(spec=STATUSPAGE), observation, NOW)
    assert (verdict.status, verdict.reason) == (status, reason)
    assert verdict.conditions == ()


def test_it_lets_failing_conditions_speak_before_the_upstream_page() -> None:
    observation = observe(
        kind=MonitorKind.STATUSPAGE,
        status_code=500,
        statuspage=upstream(("API", ComponentStatus.DEGRADED_PERFORMANCE)),
    )
    verdict = judge(define("[STATUS] == 200", spec=STATUSPAGE), observation, NOW)
    assert (verdict.status, verdict.reason) == (Status.DOWN, "[STATUS] (500) == 200 failed")


def test_it_extracts_values_with_the_verdict() -> None:
    definition = define(extract={"build": "[BODY].build", "queue": "[BODY].queue", "x": "[IP]"})
    verdict = judge(definition, observe(), NOW)
    assert verdict.extracted == {"build": "1.2.3", "queue": 12, "x": None}


def test_it_passes_host_metrics_through() -> None:
    definition = define("[CPU] < 90", spec=TcpSpec(host="127.0.0.1", port=1))
    assert judge(definition, observe(), NOW, metrics={"cpu": 95.0}).status is Status.DOWN
    assert judge(definition, observe(), NOW, metrics={"cpu": 5.0}).status is Status.UP


def test_it_keeps_definitions_frozen_comparable_and_picklable() -> None:
    definition = define("[STATUS] == 200", degraded_when=("[TTFB] > 1s",), extract={"b": "[BODY]"})
    copy = pickle.loads(pickle.dumps(definition))  # noqa: S301 - our own bytes
    assert copy == definition
    assert hash(copy) == hash(definition)
    assert CheckDefinition("k", "n", HTTP).conditions == ()
