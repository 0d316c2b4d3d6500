"""Probes: one module per kind, each `async def run(spec, ctx) -> Observation`.

A probe records a target's failure in the Observation and never raises for it.
`run` here dispatches on the spec's type; PROBES is the one registration table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from upstate.domain.enums import MonitorKind
from upstate.domain.observation import Observation
from upstate.domain.specs import ProbeSpec
from upstate.probes import dns, http, icmp, statuspage, tcp, tls
from upstate.probes.base import ProbeContext

ProbeFn = Callable[[Any, ProbeContext], Awaitable[Observation]]

PROBES: dict[MonitorKind, ProbeFn] = {
    MonitorKind.HTTP: http.run,
    MonitorKind.TCP: tcp.run,
    MonitorKind.DNS: dns.run,
    MonitorKind.ICMP: icmp.run,
    MonitorKind.TLS: tls.run,
    MonitorKind.STATUSPAGE: statuspage.run,
}


def run(spec: ProbeSpec, ctx: ProbeContext) -> Awaitable[Observation]:
    """The probe's coroutine itself (not one wrapping it: a frame fewer to resume at
    every wake-up of every probe)."""
    return PROBES[spec.kind](spec, ctx)


__all__ = ["PROBES", "ProbeContext", "run"]
