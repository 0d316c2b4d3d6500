"""The dns probe (to be written)."""

from __future__ import annotations

from upstate.domain.observation import Observation
from upstate.domain.specs import DnsSpec
from upstate.probes.base import ProbeContext


async def run(spec: DnsSpec, ctx: ProbeContext) -> Observation:
    raise NotImplementedError("the dns probe is not written yet")
