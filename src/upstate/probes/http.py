"""The http probe (to be written)."""

from __future__ import annotations

from upstate.domain.observation import Observation
from upstate.domain.specs import HttpSpec
from upstate.probes.base import ProbeContext


async def run(spec: HttpSpec, ctx: ProbeContext) -> Observation:
    raise NotImplementedError("the http probe is not written yet")
