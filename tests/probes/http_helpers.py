"""Helpers shared by the http probe's tests."""

from __future__ import annotations

import json

from upstate.domain.observation import Observation
from upstate.domain.specs import HttpSpec
from upstate.probes import http
from upstate.probes.base import ProbeContext


async def probe(url: str, **options: object) -> Observation:
    return await http.run(HttpSpec(url=url, **options), ProbeContext())  # type: ignore[arg-type]


def echoed(observation: Observation) -> dict[str, object]:
    """The /echo route's account of the request it received."""
    assert observation.error is None, observation.error
    return json.loads(observation.body)  # type: ignore[no-any-return]


def echoed_header(observation: Observation, name: str) -> str | None:
    pairs = echoed(observation)["headers"]
    assert isinstance(pairs, list)
    return next((value for key, value in pairs if key.lower() == name.lower()), None)
