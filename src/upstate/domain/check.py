"""The verdict on one observation: up, degraded or down, and a sentence saying why.

Pure: the probe has already run; `judge` only reads what it saw. Flap damping,
quorum and incidents come later and work on verdicts, not observations.

Rules, in order:
1. The probe failed (observation.error): DOWN, the reason is the error.
2. A condition fails: DOWN. A monitor without conditions gets its kind's defaults.
3. A third-party status page shows an outage in a component that matters: DOWN
   (major or partial outage), or DEGRADED (degraded performance, maintenance).
4. A `degraded_when` condition holds: DEGRADED.
5. Otherwise UP.
Every condition is evaluated even when the verdict is settled early, so people see
the values behind it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from upstate.domain.conditions import (
    Condition,
    ConditionResult,
    Evaluator,
    Expression,
    Extracted,
    parse_condition,
)
from upstate.domain.enums import ComponentStatus, MonitorKind, Status
from upstate.domain.frozen import quick_init
from upstate.domain.observation import Observation, StatuspageFacts, UpstreamComponent
from upstate.domain.specs import ProbeSpec

# Module constants are cheaper to read than the enum's members (see status.py).
_UP, _DEGRADED, _DOWN = Status.UP, Status.DEGRADED, Status.DOWN

_DEFAULTS: dict[MonitorKind, tuple[Condition, ...]] = {
    MonitorKind.HTTP: (parse_condition("[STATUS] < 400"),),
    MonitorKind.TCP: (parse_condition("[CONNECTED] == true"),),
    MonitorKind.DNS: (parse_condition("[DNS_RCODE] == NOERROR"),),
    MonitorKind.ICMP: (parse_condition("[PACKET_LOSS] < 100"),),
    MonitorKind.TLS: (parse_condition("[CERTIFICATE_EXPIRATION] > 0"),),
}

# Worst first; what each upstream component status means for us.
_UPSTREAM: dict[ComponentStatus, tuple[int, Status]] = {
    ComponentStatus.MAJOR_OUTAGE: (0, Status.DOWN),
    ComponentStatus.PARTIAL_OUTAGE: (1, Status.DOWN),
    ComponentStatus.DEGRADED_PERFORMANCE: (2, Status.DEGRADED),
    ComponentStatus.UNDER_MAINTENANCE: (3, Status.DEGRADED),
    ComponentStatus.OPERATIONAL: (4, Status.UP),
}


def default_conditions(kind: MonitorKind) -> tuple[Condition, ...]:
    """What `up` means for a kind when the monitor says nothing; empty where the
    observation decides by itself (statuspage) or the kind is judged elsewhere."""
    return _DEFAULTS.get(kind, ())


@dataclass(frozen=True, slots=True)
class CheckDefinition:
    """One monitor as the checker needs it: what to probe and how to judge it."""

    key: str
    name: str
    spec: ProbeSpec
    conditions: tuple[Condition, ...] = ()
    degraded_when: tuple[Condition, ...] = ()
    extract: tuple[tuple[str, Expression], ...] = ()
    # The conditions judged: worked out once here, not on every check.
    effective_conditions: tuple[Condition, ...] = field(
        default=(), init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        effective = self.conditions or default_conditions(self.spec.kind)
        object.__setattr__(self, "effective_conditions", effective)


@quick_init
@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    conditions: tuple[ConditionResult, ...]
    degraded: tuple[ConditionResult, ...]
    extracted: dict[str, Extracted]
    reason: str


def judge(
    definition: CheckDefinition,
    observation: Observation,
    now: datetime,
    metrics: Mapping[str, float] | None = None,
) -> Verdict:
    evaluator = Evaluator(observation, now, metrics)
    results = evaluator.evaluate(definition.effective_conditions)
    # Most monitors have neither; skipping them spares a tuple and a dict per check.
    degraded = evaluator.evaluate(definition.degraded_when) if definition.degraded_when else ()
    extracted = evaluator.extract(dict(definition.extract)) if definition.extract else {}
    error = observation.error
    if error is not None:
        return Verdict(_DOWN, results, degraded, extracted, f"{error.kind}: {error.message}")
    failed = [result for result in results if not result.ok]
    if failed:
        return Verdict(_DOWN, results, degraded, extracted, _first_of(failed, "failed"))
    page = observation.statuspage
    if page is not None:
        upstream = _upstream(page)
        if upstream is not None:
            return Verdict(upstream[0], results, degraded, extracted, upstream[1])
    if degraded:
        holding = [result for result in degraded if result.ok]
        if holding:
            return Verdict(_DEGRADED, results, degraded, extracted, _first_of(holding, "holds"))
    if page is not None:
        reason = "every upstream component is operational"
    else:
        reason = _all_passed(len(results))
    return Verdict(_UP, results, degraded, extracted, reason)


def _first_of(results: list[ConditionResult], verb: str) -> str:
    more = f" (and {len(results) - 1} more)" if len(results) > 1 else ""
    return f"{results[0]} {verb}{more}"


def _all_passed(count: int) -> str:
    if count == 0:
        return "no conditions to check"
    if count == 1:
        return "the condition passed"
    return f"all {count} conditions passed"


def _upstream(facts: StatuspageFacts) -> tuple[Status, str] | None:
    """The worst component that is not operational, as a status and a sentence."""
    troubled = [c for c in facts.components if c.status != ComponentStatus.OPERATIONAL]
    if not troubled:
        return None
    troubled.sort(key=_severity)
    worst = troubled[0]
    more = f" (and {len(troubled) - 1} more)" if len(troubled) > 1 else ""
    return _UPSTREAM[worst.status][1], f"upstream {worst.name}: {worst.status}{more}"


def _severity(component: UpstreamComponent) -> int:
    return _UPSTREAM[component.status][0]
