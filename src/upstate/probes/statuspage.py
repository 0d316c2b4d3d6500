"""The statuspage probe (to be written)."""

from __future__ import annotations

from upstate.domain.observation import Observation
from upstate.domain.specs import StatuspageSpec
from upstate.probes.base import ProbeContext


async def run(spec: StatuspageSpec, ctx: ProbeContext) -> Observation:
    raise NotImplementedError("the statuspage probe is not written yet")
