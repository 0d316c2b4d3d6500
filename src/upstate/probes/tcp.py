"""The tcp probe (to be written)."""

from __future__ import annotations

from upstate.domain.observation import Observation
from upstate.domain.specs import TcpSpec
from upstate.probes.base import ProbeContext


async def run(spec: TcpSpec, ctx: ProbeContext) -> Observation:
    raise NotImplementedError("the tcp probe is not written yet")
