"""The tls probe (to be written)."""

from __future__ import annotations

from upstate.domain.observation import Observation
from upstate.domain.specs import TlsSpec
from upstate.probes.base import ProbeContext


async def run(spec: TlsSpec, ctx: ProbeContext) -> Observation:
    raise NotImplementedError("the tls probe is not written yet")
