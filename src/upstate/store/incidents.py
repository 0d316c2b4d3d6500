"""Incidents and their timelines: domain.incidents.Incident in, Incident out.

An incident's row holds what it is now (status, impact, component statuses, pages,
monitors); its updates are append-only rows numbered from 0 (`seq`). `save` writes the
header and appends the updates the store does not have yet, so a caller applies a
domain move (apply_update, apply_decision) and saves the result; nothing is rewritten.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import RowMapping

from upstate.domain.enums import ComponentStatus
from upstate.domain.incidents import (
    AffectedComponent,
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
)
from upstate.store._sql import rowcount
from upstate.store.db import Db
from upstate.store.tables import incident_updates, incidents

MAX_LIST = 500
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_OPEN = ("investigating", "identified", "monitoring")


def new_id() -> str:
    """A fresh incident id: 12 lowercase letters and digits, as Statuspage's look."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


async def insert_incident(db: Db, incident: Incident, now: datetime) -> None:
    """Store a new incident with its updates so far."""
    await db.execute(insert(incidents).values(**_header(incident), created_at=now, updated_at=now))
    await _append(db, incident.id, incident.updates, start=0)


async def save(db: Db, incident: Incident, now: datetime) -> None:
    """Write an incident's header and append the updates the store has not seen.

    Raises LookupError when the incident is not stored, ValueError when the given
    timeline is shorter than the stored one (updates are never removed)."""
    stored = (
        await db.execute(select(func.count()).where(incident_updates.c.incident_id == incident.id))
    ).scalar_one()
    result = await db.execute(
        update(incidents)
        .where(incidents.c.id == incident.id)
        .values(**_header(incident), updated_at=now)
    )
    if not rowcount(result):
        raise LookupError(f"no incident {incident.id}")
    if len(incident.updates) < stored:
        raise ValueError("an incident's timeline only grows")
    await _append(db, incident.id, incident.updates[stored:], start=stored)


async def get(db: Db, incident_id: str) -> Incident | None:
    row = (await db.execute(select(incidents).where(incidents.c.id == incident_id))).first()
    if row is None:
        return None
    updates = await _updates_of(db, [incident_id])
    return _incident(row._mapping, updates.get(incident_id, ()))


async def list_incidents(
    db: Db,
    *,
    open_only: bool = False,
    resolved_only: bool = False,
    auto: bool | None = None,
    draft: bool | None = None,
    page: str | None = None,
    include_drafts: bool = True,
    started_before: datetime | None = None,
    started_since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Incident]:
    """Incidents newest first (by start), with their timelines.

    `page` keeps those shown on that status page; `open_only` those not resolved,
    `resolved_only` those resolved (postmortems too); `draft` only drafts (True) or only
    published ones (False), as does `include_drafts=False`."""
    statement = select(incidents).order_by(incidents.c.started_at.desc(), incidents.c.id)
    if open_only:
        statement = statement.where(incidents.c.status.in_(_OPEN))
    if resolved_only:
        statement = statement.where(incidents.c.status.not_in(_OPEN))
    if auto is not None:
        statement = statement.where(incidents.c.auto == auto)
    if draft is not None:
        statement = statement.where(incidents.c.draft == draft)
    if not include_drafts:
        statement = statement.where(incidents.c.draft.is_(False))
    if started_before is not None:
        statement = statement.where(incidents.c.started_at < started_before)
    if started_since is not None:
        statement = statement.where(incidents.c.started_at >= started_since)
    limit = max(0, min(limit, MAX_LIST))
    if page is None:
        statement = statement.limit(limit).offset(offset)
        rows = [row._mapping for row in await db.execute(statement)]
    else:
        # Pages are a JSON list: filtered here, which is fine for the few incidents a
        # page has in a window; the window bounds are in SQL.
        wanted = [row._mapping for row in await db.execute(statement)]
        rows = [row for row in wanted if page in (row["pages"] or ())][offset : offset + limit]
    updates = await _updates_of(db, [row["id"] for row in rows])
    return [_incident(row, updates.get(row["id"], ())) for row in rows]


async def delete_incident(db: Db, incident_id: str) -> bool:
    result = await db.execute(delete(incidents).where(incidents.c.id == incident_id))
    return bool(rowcount(result))


# --- rows <-> domain --------------------------------------------------------------------


def _header(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "status": incident.status.value,
        "impact": incident.impact.value,
        "draft": incident.draft,
        "auto": incident.auto,
        "pages": list(incident.pages),
        "components": {code: status.value for code, status in incident.components.items()},
        "monitors": list(incident.monitors),
        "started_at": incident.started_at,
        "resolved_at": incident.resolved_at,
    }


async def _append(
    db: Db, incident_id: str, updates: Sequence[IncidentUpdate], *, start: int
) -> None:
    if not updates:
        return
    await db.execute(
        insert(incident_updates),
        [
            {
                "incident_id": incident_id,
                "seq": start + offset,
                "status": item.status.value,
                "body": item.body,
                "at": item.at,
                "affected_components": [_affected_dict(c) for c in item.affected_components],
            }
            for offset, item in enumerate(updates)
        ],
    )


async def _updates_of(db: Db, ids: Sequence[str]) -> dict[str, tuple[IncidentUpdate, ...]]:
    if not ids:
        return {}
    statement = (
        select(incident_updates)
        .where(incident_updates.c.incident_id.in_(ids))
        .order_by(incident_updates.c.incident_id, incident_updates.c.seq)
    )
    found: dict[str, list[IncidentUpdate]] = {}
    for row in await db.execute(statement):
        m = row._mapping
        found.setdefault(m["incident_id"], []).append(
            IncidentUpdate(
                status=IncidentStatus(m["status"]),
                body=m["body"],
                at=m["at"],
                affected_components=tuple(_affected(c) for c in m["affected_components"]),
            )
        )
    return {key: tuple(value) for key, value in found.items()}


def _incident(row: RowMapping, updates: tuple[IncidentUpdate, ...]) -> Incident:
    return Incident(
        id=row["id"],
        title=row["title"],
        status=IncidentStatus(row["status"]),
        impact=Impact(row["impact"]),
        started_at=row["started_at"],
        resolved_at=row["resolved_at"],
        draft=row["draft"],
        auto=row["auto"],
        components={code: ComponentStatus(s) for code, s in (row["components"] or {}).items()},
        updates=updates,
        monitors=tuple(row["monitors"] or ()),
        pages=tuple(row["pages"] or ()),
    )


def _affected_dict(item: AffectedComponent) -> dict[str, str]:
    return {
        "code": item.code,
        "name": item.name,
        "old_status": item.old_status.value,
        "new_status": item.new_status.value,
    }


def _affected(data: dict[str, str]) -> AffectedComponent:
    return AffectedComponent(
        code=data["code"],
        name=data["name"],
        old_status=ComponentStatus(data["old_status"]),
        new_status=ComponentStatus(data["new_status"]),
    )
