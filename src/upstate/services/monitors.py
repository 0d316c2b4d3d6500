"""Monitors as code and through the API, kept in the store by `key`.

- `sync_config` makes the stored config monitors match the file: created, updated and
  removed by key; an unchanged key keeps its id and so its history. Only monitors the
  file owns (source=config) are removed when they leave it. **The file wins**: an API
  monitor whose key the file now defines becomes the file's (same id, history kept),
  since the file is what the operator edits and a reload cannot be refused for it.
- The API creates, updates (JSON merge patch) and deletes monitors whose source is the
  API; a config monitor is read-only there (Conflict, 409: edit the file).
- `load_monitor_models` gives the engine every stored monitor rebuilt as its config model,
  secrets decrypted. A definition that no longer validates is skipped with a log line;
  a wrong secret key raises, because then no monitor with a secret can run.

The stored definition is the model's JSON dump, secrets sealed (services/secrets.py).
Push monitors get a random ping token unless they set one; it is kept across edits.
Nothing here commits: the request or the caller's job does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from secrets import token_urlsafe
from typing import Any, cast

from pydantic import ValidationError

from upstate.config.models import MONITOR_MODELS, Monitor, UpstateConfig
from upstate.config.monitors import MonitorBase, Probed, PushMonitor, Scheduled
from upstate.domain.enums import MonitorKind, Status
from upstate.errors import ConfigError, Conflict, NotFound
from upstate.services import monitor_input
from upstate.services.monitor_input import issue
from upstate.services.secrets import (
    SecretBox,
    SecretKeyError,
    has_secrets,
    plain_json,
    present,
    seal,
    unseal,
)
from upstate.store import monitors as store
from upstate.store import states
from upstate.store.db import Db
from upstate.store.monitors import MonitorDraft, MonitorRecord, MonitorSource
from upstate.store.states import StateRecord

logger = logging.getLogger(__name__)

DERIVED_INTERVAL_S = 60.0  # stored for kinds without an interval (cron push, composite)
MAX_TOKEN_LENGTH = 64  # the store's ping_token column


@dataclass(frozen=True, slots=True)
class SyncReport:
    """Keys, sorted, by what a sync did to them."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    adopted: tuple[str, ...] = ()  # API monitors the file now defines (also in `updated`)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


@dataclass(frozen=True, slots=True)
class MonitorView:
    """A monitor as the API shows it: settings, current status, and no secret."""

    key: str
    name: str
    kind: MonitorKind
    status: Status
    since: datetime | None
    last_checked_at: datetime | None
    critical: bool
    tags: tuple[str, ...]
    interval_s: float | None
    regions: tuple[str, ...]
    source: MonitorSource
    paused: bool
    flapping: bool
    ping_url: str | None
    definition: dict[str, Any]


# --- the config file ---------------------------------------------------------------------


async def sync_config(
    session: Db, config: UpstateConfig, *, secrets: SecretBox, now: datetime
) -> SyncReport:
    """Make the stored config monitors those of `config` (see the module docstring)."""
    stored = {record.key: record for record in await store.list_all(session)}
    wanted = {monitor.key for monitor in config.monitors}
    removed = sorted(
        key
        for key, record in stored.items()
        if record.source is MonitorSource.CONFIG and key not in wanted
    )
    for key in removed:
        await store.delete_by_key(session, key)
    _check_tokens(config.monitors)
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    adopted: list[str] = []
    for monitor in config.monitors:
        record = stored.get(monitor.key)
        token = _ping_token(monitor, record)
        if record is not None and _same(record, monitor, token, secrets):
            unchanged.append(monitor.key)
            continue
        if record is not None and record.source is MonitorSource.API:
            logger.warning("api monitor taken over by the config file key=%s", monitor.key)
            adopted.append(monitor.key)
        draft = _draft(monitor, MonitorSource.CONFIG, secrets, token)
        await store.upsert(session, draft, now=now)
        (updated if record is not None else created).append(monitor.key)
    report = SyncReport(
        tuple(sorted(created)),
        tuple(sorted(updated)),
        tuple(removed),
        tuple(sorted(unchanged)),
        tuple(sorted(adopted)),
    )
    logger.info(
        "config monitors synced created=%d updated=%d removed=%d unchanged=%d",
        len(report.created),
        len(report.updated),
        len(report.removed),
        len(report.unchanged),
    )
    return report


def _check_tokens(monitors: Sequence[MonitorBase]) -> None:
    seen: dict[str, str] = {}
    for monitor in monitors:
        if isinstance(monitor, PushMonitor) and monitor.token is not None:
            token = monitor.token.get_secret_value()
            if token in seen:
                raise ConfigError(
                    [issue(f"{monitor.key}.token", f"the same ping token as {seen[token]}")]
                )
            seen[token] = monitor.key


def _same(record: MonitorRecord, monitor: MonitorBase, token: str | None, box: SecretBox) -> bool:
    """Nothing the store keeps differs (secrets compared in clear; sealing is randomised)."""
    if (
        record.source is not MonitorSource.CONFIG
        or record.kind != monitor.kind
        or record.name != monitor.name
        or record.interval_s != interval_of(monitor)
        or record.critical != monitor.critical
        or record.tags != tuple(monitor.tags)
        or record.regions != _regions(monitor)
        or record.paused != monitor.paused
        or record.ping_token != token
    ):
        return False
    try:
        return bool(unseal(record.definition, box) == plain_json(monitor))
    except SecretKeyError:
        return False  # sealed with another key: write it again with this one


# --- the engine's view ---------------------------------------------------------------------


async def load_monitor_models(
    session: Db, *, secrets: SecretBox
) -> list[tuple[MonitorRecord, Monitor]]:
    """Every stored monitor with its config model, secrets decrypted, ordered by key.

    For the engine's `ModelLoader`: `functools.partial(load_monitor_models, secrets=box)`.
    """
    out: list[tuple[MonitorRecord, Monitor]] = []
    for record in await store.list_all(session):
        try:
            model = rebuild(record, secrets)
        except ValidationError as exc:
            logger.error(
                "stored monitor no longer valid key=%s errors=%d", record.key, exc.error_count()
            )
            continue
        out.append((record, cast(Monitor, model)))
    return out


def rebuild(record: MonitorRecord, secrets: SecretBox) -> MonitorBase:
    """The config model of a stored monitor (raises ValidationError, SecretKeyError)."""
    data = (
        unseal(record.definition, secrets)
        if has_secrets(record.definition)
        else dict(record.definition)
    )
    data.setdefault("key", record.key)
    data.setdefault("kind", record.kind.value)
    return MONITOR_MODELS[record.kind].model_validate(data)


# --- the API -------------------------------------------------------------------------------


async def list_monitors(session: Db, *, base_url: str) -> list[MonitorView]:
    records = await store.list_all(session)
    known = await states.list_states(session)
    return [view_of(record, known.get(record.id), base_url) for record in records]


async def get_monitor(session: Db, key: str, *, base_url: str) -> MonitorView:
    record = await require(session, key)
    return view_of(record, await states.get_state(session, record.id), base_url)


async def require(session: Db, key: str) -> MonitorRecord:
    record = await store.get_by_key(session, key)
    if record is None:
        raise NotFound(f"no monitor has the key {key!r}")
    return record


async def create_monitor(
    session: Db,
    body: Mapping[str, Any],
    *,
    secrets: SecretBox,
    now: datetime,
    base_url: str,
    config_name: str = "the config file",
) -> MonitorView:
    """Validate `body` as one monitor of the config language and store it (source=api)."""
    monitor = monitor_input.validate_monitor(body)
    existing = await store.get_by_key(session, monitor.key)
    if existing is not None:
        if existing.source is MonitorSource.CONFIG:
            raise Conflict(_read_only(monitor.key, config_name))
        raise Conflict(f"a monitor with the key {monitor.key!r} exists already")
    monitor_input.check_references(monitor, await _edges(session))
    token = await _unused_token(session, monitor, None)
    draft = _draft(monitor, MonitorSource.API, secrets, token)
    record = await store.upsert(session, draft, now=now)
    logger.info("monitor created key=%s kind=%s", record.key, record.kind)
    return view_of(record, None, base_url)


async def update_monitor(
    session: Db,
    key: str,
    patch: Mapping[str, Any],
    *,
    secrets: SecretBox,
    now: datetime,
    base_url: str,
    config_name: str = "the config file",
) -> MonitorView:
    """Apply a JSON merge patch to an API monitor; masked secrets sent back are kept."""
    record = await require(session, key)
    if record.source is MonitorSource.CONFIG:
        raise Conflict(_read_only(key, config_name))
    plain = unseal(record.definition, secrets)
    merged = monitor_input.merge_patch(plain, patch)
    merged = monitor_input.keep_masked(merged, present(record.definition), plain)
    found = []
    if merged.get("key") != key:
        found.append(issue("key", "cannot change: create a monitor with the new key instead"))
    if merged.get("kind") != record.kind.value:
        found.append(issue("kind", "cannot change: create a monitor of the new kind instead"))
    if found:
        raise ConfigError(found)
    monitor = monitor_input.validate_monitor(merged)
    monitor_input.check_references(monitor, await _edges(session))
    token = await _unused_token(session, monitor, record)
    draft = _draft(monitor, MonitorSource.API, secrets, token)
    record = await store.upsert(session, draft, now=now)
    logger.info("monitor updated key=%s", key)
    return view_of(record, await states.get_state(session, record.id), base_url)


async def delete_monitor(session: Db, key: str, *, config_name: str = "the config file") -> None:
    """Delete an API monitor and its history; refused while other monitors refer to it."""
    record = await require(session, key)
    if record.source is MonitorSource.CONFIG:
        raise Conflict(_read_only(key, config_name))
    users = sorted(other for other, targets in (await _edges(session)).items() if key in targets)
    if users:
        raise Conflict(f"monitor {key!r} is used by {', '.join(users)}: remove it from them first")
    await store.delete_by_key(session, key)
    logger.info("monitor deleted key=%s", key)


def view_of(record: MonitorRecord, state: StateRecord | None, base_url: str) -> MonitorView:
    if state is not None:
        status, since, checked = state.status, state.since, state.last_checked_at
        flapping = bool(state.state.get("flapping", False))
    else:
        status = Status.PAUSED if record.paused else Status.UNKNOWN
        since, checked, flapping = None, None, False
    ping_url = None
    if record.kind is MonitorKind.PUSH and record.ping_token:
        ping_url = f"{base_url.rstrip('/')}/ping/{record.ping_token}"
    has_interval = record.kind not in (MonitorKind.PUSH, MonitorKind.COMPOSITE) or (
        record.kind is MonitorKind.PUSH and record.definition.get("period") is not None
    )
    return MonitorView(
        key=record.key,
        name=record.name,
        kind=record.kind,
        status=status,
        since=since,
        last_checked_at=checked,
        critical=record.critical,
        tags=record.tags,
        interval_s=record.interval_s if has_interval else None,
        regions=record.regions,
        source=record.source,
        paused=record.paused,
        flapping=flapping,
        ping_url=ping_url,
        definition=present(record.definition),
    )


def _read_only(key: str, config_name: str) -> str:
    return f"monitor '{key}' is defined in {config_name}; edit the file instead"


async def _edges(session: Db) -> dict[str, tuple[str, ...]]:
    """Every stored monitor's key -> the keys it waits on, read without decrypting."""
    edges: dict[str, tuple[str, ...]] = {}
    for record in await store.list_all(session):
        depends = record.definition.get("depends_on") or ()
        children = ()
        if record.kind is MonitorKind.COMPOSITE:
            children = record.definition.get("monitors") or ()
        edges[record.key] = (*depends, *children)
    return edges


async def _unused_token(
    session: Db, monitor: MonitorBase, record: MonitorRecord | None
) -> str | None:
    token = _ping_token(monitor, record)
    if token is not None:
        holder = await store.get_by_token(session, token)
        if holder is not None and holder.key != monitor.key:
            raise Conflict("another monitor has this ping token: choose a different one")
    return token


def _ping_token(monitor: MonitorBase, record: MonitorRecord | None) -> str | None:
    """The token given, else the one the monitor has, else a new random one."""
    if not isinstance(monitor, PushMonitor):
        return None
    if monitor.token is not None:
        token = monitor.token.get_secret_value()
        if len(token) > MAX_TOKEN_LENGTH:
            raise ConfigError(
                [issue(f"{monitor.key}.token", f"at most {MAX_TOKEN_LENGTH} characters")]
            )
        return token
    if record is not None and record.ping_token:
        return record.ping_token
    return token_urlsafe(24)


def _draft(
    monitor: MonitorBase, source: MonitorSource, secrets: SecretBox, token: str | None
) -> MonitorDraft:
    return MonitorDraft(
        key=monitor.key,
        name=monitor.name,
        kind=monitor.kind,
        source=source,
        definition=seal(monitor, secrets),
        interval_s=interval_of(monitor),
        critical=monitor.critical,
        tags=tuple(monitor.tags),
        regions=_regions(monitor),
        paused=monitor.paused,
        ping_token=token,
    )


def interval_of(monitor: MonitorBase) -> float:
    if isinstance(monitor, Scheduled):
        return monitor.interval
    if isinstance(monitor, PushMonitor) and monitor.period is not None:
        return monitor.period
    return DERIVED_INTERVAL_S


def _regions(monitor: MonitorBase) -> tuple[str, ...]:
    return tuple(monitor.regions) if isinstance(monitor, Probed) else ()
