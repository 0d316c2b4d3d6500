"""Run checks once: probe, then judge. Used by `upstate check` and "check now"."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from upstate import probes
from upstate.domain.check import CheckDefinition, Verdict, judge
from upstate.domain.frozen import quick_init
from upstate.domain.observation import Observation
from upstate.probes.base import ProbeContext


@quick_init
@dataclass(frozen=True, slots=True)
class CheckResult:
    definition: CheckDefinition
    observation: Observation
    verdict: Verdict


async def run_check(definition: CheckDefinition, ctx: ProbeContext) -> CheckResult:
    observation = await probes.run(definition.spec, ctx)
    verdict = judge(definition, observation, ctx.clock())
    return CheckResult(definition, observation, verdict)


async def run_checks(
    definitions: Iterable[CheckDefinition], ctx: ProbeContext, *, concurrency: int = 64
) -> list[CheckResult]:
    """Every check once, at most `concurrency` at a time; results in the order given."""
    gate = asyncio.Semaphore(concurrency)

    async def one(definition: CheckDefinition) -> CheckResult:
        async with gate:
            return await run_check(definition, ctx)

    return list(await asyncio.gather(*(one(d) for d in definitions)))


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def result_to_json(result: CheckResult) -> dict[str, Any]:
    """The `upstate check --json` object (also what "check now" answers)."""
    obs = result.observation
    verdict = result.verdict
    out: dict[str, Any] = {
        "key": result.definition.key,
        "kind": str(obs.kind),
        "target": obs.target,
        "region": obs.region,
        "status": str(verdict.status),
        "reason": verdict.reason,
        "started_at": obs.started_at.isoformat().replace("+00:00", "Z"),
        "duration_ms": _ms(obs.duration_ms),
        "phases": {
            "dns_ms": _ms(obs.phases.dns),
            "connect_ms": _ms(obs.phases.connect),
            "tls_ms": _ms(obs.phases.tls),
            "ttfb_ms": _ms(obs.phases.ttfb),
            "transfer_ms": _ms(obs.phases.transfer),
        },
        "status_code": obs.status_code,
        "ip": obs.ip,
        "error": None,
        "conditions": [{"expr": c.expr, "value": c.value, "ok": c.ok} for c in verdict.conditions],
        "degraded_when": [{"expr": c.expr, "value": c.value, "ok": c.ok} for c in verdict.degraded],
        "extracted": dict(verdict.extracted),
    }
    if obs.error is not None:
        out["error"] = {"kind": str(obs.error.kind), "message": obs.error.message}
        if obs.error.reason is not None:
            out["error"]["reason"] = str(obs.error.reason)
    if obs.redirects:
        out["redirects"] = list(obs.redirects)
    if obs.body_truncated:
        out["body_truncated"] = True
    if obs.cert is not None:
        cert = obs.cert
        out["certificate"] = {
            "subject": cert.subject,
            "issuer": cert.issuer,
            "not_before": cert.not_before.isoformat(),
            "not_after": cert.not_after.isoformat(),
            "san": list(cert.san),
            "chain_valid": cert.chain_valid,
            "hostname_match": cert.hostname_match,
        }
    if obs.dns is not None:
        out["dns"] = {
            "rcode": obs.dns.rcode,
            "record": obs.dns.record,
            "answers": list(obs.dns.answers),
            "nameserver": obs.dns.nameserver,
        }
    if obs.icmp is not None:
        icmp = obs.icmp
        out["icmp"] = {
            "sent": icmp.sent,
            "received": icmp.received,
            "packet_loss": icmp.packet_loss,
            "rtt_min_ms": _ms(icmp.rtt_min),
            "rtt_avg_ms": _ms(icmp.rtt_avg),
            "rtt_max_ms": _ms(icmp.rtt_max),
        }
    if obs.statuspage is not None:
        page = obs.statuspage
        out["statuspage"] = {
            "indicator": page.indicator,
            "description": page.description,
            "components": [{"name": c.name, "status": str(c.status)} for c in page.components],
            "incidents": [
                {"name": i.name, "status": i.status, "impact": i.impact} for i in page.incidents
            ],
        }
    return out


def worst_exit_code(results: Sequence[CheckResult]) -> int:
    """0 when all are up, 3 when the worst is degraded, 1 when any is down."""
    statuses = {str(r.verdict.status) for r in results}
    if "down" in statuses:
        return 1
    if "degraded" in statuses:
        return 3
    return 0
