"""The engine's view of a monitor: what the scheduler, the evaluator and the writer need.

A `RuntimeMonitor` is built once per monitor from its config model (the pydantic model
rebuilt from the stored definition, secrets decrypted) and its store id. Everything
the hot path reads is precomputed here: the probe's CheckDefinition, the evaluator's
Policy, the host that per-target concurrency limits count against. Two runtime
monitors compare equal when nothing the engine uses differs, which is how a reload
tells an edited monitor from an unchanged one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from upstate.config.models import MONITOR_MODELS
from upstate.config.monitors import (
    CompositeMonitor,
    MonitorBase,
    Probed,
    PushMonitor,
    Scheduled,
)
from upstate.domain.check import CheckDefinition
from upstate.domain.enums import MonitorKind
from upstate.domain.push import PushSchedule, PushState
from upstate.domain.specs import DnsSpec, HttpSpec, ProbeSpec, StatuspageSpec
from upstate.domain.status import MonitorState, Policy
from upstate.store import monitors as monitor_store
from upstate.store import states as state_store
from upstate.store.monitors import MonitorRecord

logger = logging.getLogger(__name__)

PUSH_REGION = "push"  # the region a push monitor's pings are recorded under
COMPOSITE_REGION = "composite"  # the region a composite's own verdicts are recorded under
DERIVED_INTERVAL_S = 60.0  # the evaluator's interval for composites (nothing is scheduled)
PUSH_KEY = "push"  # where a push monitor's PushState rides in the stored state JSON


@dataclass(frozen=True, slots=True)
class RuntimeMonitor:
    id: int
    key: str
    name: str
    kind: MonitorKind
    interval_s: float
    timeout_s: float
    policy: Policy
    definition: CheckDefinition | None  # None for kinds that are not probed here
    target_host: str | None  # what per-host concurrency limits count against
    paused: bool = False
    ping_token: str | None = None
    push: PushSchedule | None = None
    created_at: datetime | None = None  # when the store first saw it: push deadlines count
    children: tuple[str, ...] = ()  # a composite's monitors
    at_least: int | None = None
    depends_on: tuple[str, ...] = ()

    @property
    def probed(self) -> bool:
        return self.definition is not None


def runtime_from_model(
    record_id: int,
    model: MonitorBase,
    *,
    paused: bool | None = None,
    ping_token: str | None = None,
    created_at: datetime | None = None,
) -> RuntimeMonitor:
    """The runtime view of one config model.

    `paused`, `ping_token` and `created_at` come from the store when it holds them (the
    API pauses a monitor without rewriting its definition; a generated token lives only
    there; a push monitor's first deadline counts from its creation). Raises ValueError
    for a push schedule that cannot be used.
    """
    definition: CheckDefinition | None = None
    timeout_s = 0.0
    host: str | None = None
    if isinstance(model, Probed):
        definition = model.check_definition()
        timeout_s = model.timeout
        host = target_host(definition.spec)
    interval_s = _interval(model)
    policy = Policy(
        failure_threshold=model.failure_threshold if isinstance(model, Scheduled) else 1,
        success_threshold=model.success_threshold if isinstance(model, Scheduled) else 1,
        interval_s=interval_s,
        regions=model.regions if isinstance(model, Probed) else ("local",),
        quorum=model.quorum if isinstance(model, Probed) else 0.5,
        flap_changes=model.flap_changes,
        flap_window_s=model.flap_window,
    )
    push: PushSchedule | None = None
    if isinstance(model, PushMonitor):
        push = PushSchedule(
            period_s=model.period,
            cron=model.schedule,
            timezone=model.timezone or "UTC",
            grace_s=model.grace,
        )
        if ping_token is None and model.token is not None:
            ping_token = model.token.get_secret_value()
    composite = model if isinstance(model, CompositeMonitor) else None
    return RuntimeMonitor(
        id=record_id,
        key=model.key,
        name=model.name,
        kind=model.kind,
        interval_s=interval_s,
        timeout_s=timeout_s,
        policy=policy,
        definition=definition,
        target_host=host,
        paused=model.paused if paused is None else paused,
        ping_token=ping_token,
        push=push,
        created_at=created_at,
        children=composite.monitors if composite else (),
        at_least=composite.at_least if composite else None,
        depends_on=model.depends_on,
    )


def _interval(model: MonitorBase) -> float:
    if isinstance(model, Scheduled):
        return model.interval
    if isinstance(model, PushMonitor):
        # Only the evaluator's freshness window reads it; lateness has its own deadline.
        return (model.period or 86_400.0) + model.grace
    return DERIVED_INTERVAL_S


def target_host(spec: ProbeSpec) -> str:
    """The host a probe connects to, lower-cased: one busy target must not starve others."""
    if isinstance(spec, HttpSpec | StatuspageSpec):
        return (urlsplit(spec.url).hostname or spec.url).lower()
    if isinstance(spec, DnsSpec):
        return (spec.nameserver or "resolver").lower()
    return spec.host.lower()


ModelLoader = Callable[[AsyncSession], Awaitable[Sequence[tuple[MonitorRecord, MonitorBase]]]]


async def plain_models(session: AsyncSession) -> list[tuple[MonitorRecord, MonitorBase]]:
    """Models rebuilt from stored definitions as they are, decrypting nothing.

    A stand-in for services.monitors.load_monitor_models (which also decrypts secrets):
    enough for definitions stored in the clear. A definition that no longer validates
    is skipped with a log line, so one bad row never stops the others.
    """
    out: list[tuple[MonitorRecord, MonitorBase]] = []
    for record in await monitor_store.list_all(session):
        try:
            model = MONITOR_MODELS[record.kind].model_validate(_with_identity(record))
        except ValueError as exc:
            logger.error("monitor definition invalid key=%s error=%s", record.key, exc)
            continue
        out.append((record, model))
    return out


def _with_identity(record: MonitorRecord) -> dict[str, Any]:
    data = dict(record.definition)
    data.setdefault("key", record.key)
    data.setdefault("kind", record.kind.value)
    return data


async def load_monitors(
    session: AsyncSession, load_models: ModelLoader = plain_models
) -> list[RuntimeMonitor]:
    """Every monitor of the store as the engine runs it."""
    out: list[RuntimeMonitor] = []
    for record, model in await load_models(session):
        try:
            out.append(
                runtime_from_model(
                    record.id,
                    model,
                    paused=record.paused,
                    ping_token=record.ping_token,
                    created_at=record.created_at,
                )
            )
        except ValueError as exc:
            logger.error("monitor cannot run key=%s error=%s", record.key, exc)
    return out


@dataclass(frozen=True, slots=True)
class StoredState:
    """What the store remembers of a monitor between processes."""

    state: MonitorState
    checked_at: datetime | None = None
    push: PushState | None = None  # push monitors: their last pings


async def load_stored_states(session: AsyncSession) -> dict[int, StoredState]:
    """Every stored state by monitor id; an unreadable row is left out (starts afresh)."""
    out: dict[int, StoredState] = {}
    for monitor_id, record in (await state_store.list_states(session)).items():
        try:
            push = record.state.get(PUSH_KEY)
            out[monitor_id] = StoredState(
                MonitorState.from_dict(record.state),
                record.last_checked_at,
                PushState.from_dict(push) if push else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("stored state unreadable monitor_id=%d error=%s", monitor_id, exc)
    return out


async def load_states(session: AsyncSession) -> dict[int, MonitorState]:
    """The evaluator's stored memory by monitor id."""
    return {i: stored.state for i, stored in (await load_stored_states(session)).items()}
