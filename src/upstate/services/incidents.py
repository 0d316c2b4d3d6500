"""Incidents people open and update: validated against the live config, stored, and told.

Every write follows the same three steps in the caller's transaction: apply the domain
move (domain.incidents: new_incident, apply_update), save it (store.incidents), and hand
the incident as saved to the notifier (`incident_changed`), so an incident is never
stored without its notifications nor announced without being stored.

Rules kept here rather than in the domain, because they need the config:
- Components are named by code ("<page slug>.<component key>", config.pages); an
  unknown code or page slug is refused, naming it.
- An incident is shown on the pages named, plus the pages of its components; with
  neither it would be shown nowhere, so it is refused ("name a page or a component").
- A draft is told to no one (the notifier decides); publishing it tells subscribers as
  if it had just opened. A published incident cannot become a draft again.

Views (`view_of`) render each update's Markdown body to safe HTML (domain.markdown).
Nothing here commits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from upstate.config.models import UpstateConfig
from upstate.domain.enums import ComponentStatus
from upstate.domain.incidents import (
    AffectedComponent,
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    InvalidTransition,
    apply_update,
    new_incident,
)
from upstate.domain.markdown import MAX_LENGTH, render
from upstate.errors import Conflict, NotFound, UsageError
from upstate.notify.events import EventKind
from upstate.services.notifier import Notifier
from upstate.store import incidents as store
from upstate.store.db import Db

logger = logging.getLogger(__name__)

MAX_TITLE = 200  # the store's column
RESOLVED_BODY = "This incident has been resolved."
StatusFilter = Literal["open", "resolved"]


@dataclass(frozen=True, slots=True)
class ComponentView:
    code: str
    name: str
    status: ComponentStatus


@dataclass(frozen=True, slots=True)
class AffectedView:
    code: str
    name: str
    old_status: ComponentStatus
    new_status: ComponentStatus


@dataclass(frozen=True, slots=True)
class UpdateView:
    status: IncidentStatus
    body: str  # Markdown, as written
    body_html: str  # rendered and sanitised: safe to put in a page
    at: datetime
    affected_components: tuple[AffectedView, ...]


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as the API shows it; `updates` oldest first (newest last)."""

    id: str
    title: str
    status: IncidentStatus
    impact: Impact
    draft: bool
    auto: bool
    pages: tuple[str, ...]
    components: tuple[ComponentView, ...]
    monitors: tuple[str, ...]
    started_at: datetime
    resolved_at: datetime | None
    duration_s: float
    updates: tuple[UpdateView, ...]


@dataclass(frozen=True, slots=True)
class _Place:
    page: str  # slug
    name: str


# --- writes --------------------------------------------------------------------------------


async def open_incident(
    session: Db,
    notifier: Notifier,
    config: UpstateConfig,
    now: datetime,
    *,
    title: str,
    status: IncidentStatus = IncidentStatus.INVESTIGATING,
    impact: Impact = Impact.NONE,
    pages: Sequence[str] = (),
    components: Mapping[str, ComponentStatus] | None = None,
    message: str = "",
    draft: bool = False,
) -> Incident:
    """A manual incident with its first update; told as opened (unless a draft)."""
    title = title.strip()
    if not title:
        raise UsageError("an incident needs a title")
    if len(title) > MAX_TITLE:
        raise UsageError(f"a title has at most {MAX_TITLE} characters")
    places = _places(config)
    given = dict(components or {})
    affected = _affected({}, given, places)
    shown = _pages(pages, given, places)
    first = IncidentUpdate(status, _body(message), now, affected)
    try:
        incident = new_incident(store.new_id(), title, impact, first, draft=draft, pages=shown)
    except (InvalidTransition, ValueError) as exc:
        raise UsageError(str(exc)) from None
    await store.insert_incident(session, incident, now)
    await notifier.incident_changed(session, incident, EventKind.INCIDENT_OPENED, now)
    logger.info("incident opened id=%s status=%s draft=%s", incident.id, status, draft)
    return incident


async def post_update(
    session: Db,
    notifier: Notifier,
    config: UpstateConfig,
    now: datetime,
    incident_id: str,
    *,
    status: IncidentStatus,
    message: str,
    components: Mapping[str, ComponentStatus] | None = None,
) -> Incident:
    """A timeline entry; told as resolved when it resolves an open incident, else updated.

    Raises Conflict for a move the incident cannot take (e.g. reopening a resolved one)."""
    incident = await get(session, incident_id)
    if status is IncidentStatus.RESOLVED and not message.strip():
        message = RESOLVED_BODY
    given = dict(components or {})
    if incident.is_open and status is IncidentStatus.RESOLVED:
        # Resolved means back to normal, unless the update says otherwise.
        for code in incident.components:
            given.setdefault(code, ComponentStatus.OPERATIONAL)
    affected = _affected(incident.components, given, _places(config))
    update = IncidentUpdate(status, _body(message), max(now, incident.started_at), affected)
    try:
        changed = apply_update(incident, update)
    except InvalidTransition as exc:
        raise Conflict(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    await store.save(session, changed, now)
    resolves = incident.is_open and status is IncidentStatus.RESOLVED
    kind = EventKind.INCIDENT_RESOLVED if resolves else EventKind.INCIDENT_UPDATED
    await notifier.incident_changed(session, changed, kind, now)
    logger.info("incident updated id=%s status=%s", incident_id, status)
    return changed


async def patch(
    session: Db,
    notifier: Notifier,
    now: datetime,
    incident_id: str,
    *,
    title: str | None = None,
    impact: Impact | None = None,
    draft: bool | None = None,
) -> Incident:
    """Edit the title or impact, or publish a draft (told to subscribers as opened)."""
    incident = await get(session, incident_id)
    changed = incident
    if title is not None:
        title = title.strip()
        if not title or len(title) > MAX_TITLE:
            raise UsageError(f"a title has 1 to {MAX_TITLE} characters")
        changed = replace(changed, title=title)
    if impact is not None:
        changed = replace(changed, impact=impact)
    publishing = draft is False and incident.draft
    if draft is True and not incident.draft:
        raise Conflict("a published incident cannot become a draft again")
    if publishing:
        changed = replace(changed, draft=False)
    if changed == incident:
        return incident
    await store.save(session, changed, now)
    if publishing:
        await notifier.incident_changed(session, changed, EventKind.INCIDENT_OPENED, now)
        logger.info("incident published id=%s", incident_id)
    return changed


# --- reads ---------------------------------------------------------------------------------


async def get(session: Db, incident_id: str) -> Incident:
    incident = await store.get(session, incident_id)
    if incident is None:
        raise NotFound(f"no incident has the id {incident_id!r}")
    return incident


async def list_incidents(
    session: Db,
    *,
    status: StatusFilter | None = None,
    page: str | None = None,
    draft: bool | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Incident]:
    """Newest first (by start). `status`: open ones, or resolved ones (postmortems too);
    `draft`: only drafts (True) or only published ones (False); `since` inclusive and
    `before` exclusive bound the start."""
    return await store.list_incidents(
        session,
        open_only=status == "open",
        resolved_only=status == "resolved",
        draft=draft,
        page=page,
        started_since=since,
        started_before=before,
        limit=limit,
        offset=offset,
    )


def view_of(incident: Incident, config: UpstateConfig, now: datetime) -> IncidentView:
    names = {code: place.name for code, place in _places(config).items()}
    for update in incident.updates:
        for item in update.affected_components:
            names.setdefault(item.code, item.name)
    return IncidentView(
        id=incident.id,
        title=incident.title,
        status=incident.status,
        impact=incident.impact,
        draft=incident.draft,
        auto=incident.auto,
        pages=incident.pages,
        components=tuple(
            ComponentView(code, names.get(code, code), status)
            for code, status in incident.components.items()
        ),
        monitors=incident.monitors,
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        duration_s=incident.duration(now).total_seconds(),
        updates=tuple(
            UpdateView(
                status=update.status,
                body=update.body,
                body_html=render(update.body),
                at=update.at,
                affected_components=tuple(
                    AffectedView(a.code, a.name, a.old_status, a.new_status)
                    for a in update.affected_components
                ),
            )
            for update in incident.updates
        ),
    )


# --- helpers -------------------------------------------------------------------------------


def _places(config: UpstateConfig) -> dict[str, _Place]:
    """Every component code of every status page, with its page and name."""
    return {
        placed.code: _Place(page.slug, placed.component.name)
        for page in config.status_pages
        for placed in page.placed_components()
    }


def _affected(
    current: Mapping[str, ComponentStatus],
    given: Mapping[str, ComponentStatus],
    places: Mapping[str, _Place],
) -> tuple[AffectedComponent, ...]:
    """The given components that are new to the incident or change status. A code the
    incident already has may have left the config since; any other must be in it."""
    unknown = sorted(code for code in given if code not in places and code not in current)
    if unknown:
        raise UsageError(
            f"unknown component {', '.join(unknown)}: components are named "
            "'<page slug>.<component key>'"
        )
    return tuple(
        AffectedComponent(
            code,
            places[code].name if code in places else code,
            current.get(code, ComponentStatus.OPERATIONAL),
            status,
        )
        for code, status in given.items()
        if code not in current or current[code] is not status
    )


def _pages(
    named: Sequence[str], components: Mapping[str, ComponentStatus], places: Mapping[str, _Place]
) -> tuple[str, ...]:
    slugs = {place.page for place in places.values()}
    unknown = sorted(slug for slug in named if slug not in slugs)
    if unknown:
        raise UsageError(f"unknown status page {', '.join(unknown)}")
    shown = dict.fromkeys(named)
    shown.update(dict.fromkeys(places[code].page for code in components if code in places))
    if not shown:
        raise UsageError("name a page or a component: an incident must be shown somewhere")
    return tuple(shown)


def _body(message: str) -> str:
    if len(message) > MAX_LENGTH:
        raise UsageError(f"an update has at most {MAX_LENGTH} characters")
    return message
