"""The icmp probe (to be written)."""

from __future__ import annotations

from upstate.domain.observation import Observation
from upstate.domain.specs import IcmpSpec
from upstate.probes.base import ProbeContext


async def run(spec: IcmpSpec, ctx: ProbeContext) -> Observation:
    raise NotImplementedError("the icmp probe is not written yet")
