"""/api/v1/incidents: list, open, read, edit (title, impact, publish a draft), post updates.

Bodies use the Statuspage vocabulary: status `investigating|identified|monitoring|
resolved|postmortem`, impact `none|minor|major|critical`, component statuses
`operational|degraded_performance|partial_outage|major_outage|under_maintenance`, and
components named by code ("<page slug>.<component key>"). Update bodies are Markdown;
answers carry them as written (`body`) and rendered to safe HTML (`body_html`).
Notifications are queued in the request's transaction; delivery is woken after it commits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from upstate.domain.enums import ComponentStatus
from upstate.domain.incidents import Impact, IncidentStatus
from upstate.services import incidents
from upstate.services.incidents import IncidentView, StatusFilter
from upstate.web.deps import Live, NotifierDep, Now, ReadSession, WriteSession

router = APIRouter(prefix="/api/v1", tags=["incidents"])

MAX_PAGE = 500  # what the store serves at most in one page


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentChange(_Body):
    code: str = Field(description="'<page slug>.<component key>'", examples=["main.api"])
    status: ComponentStatus


class NewIncident(_Body):
    title: str = Field(min_length=1, max_length=incidents.MAX_TITLE)
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    impact: Impact = Impact.NONE
    pages: list[str] = Field(default=[], description="status page slugs")
    components: list[ComponentChange] = []
    body: str = Field(default="", description="the first update, in Markdown")
    draft: bool = False


class IncidentPatch(_Body):
    title: str | None = Field(default=None, min_length=1, max_length=incidents.MAX_TITLE)
    impact: Impact | None = None
    draft: bool | None = Field(default=None, description="false publishes a draft")


class NewUpdate(_Body):
    status: IncidentStatus
    body: str = Field(default="", description="Markdown")
    components: list[ComponentChange] = []


class IncidentList(BaseModel):
    items: list[IncidentView]


def _changes(items: list[ComponentChange]) -> dict[str, ComponentStatus]:
    return {item.code: item.status for item in items}


def _utc(value: datetime | None) -> datetime | None:
    """Query times without a zone are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get("/incidents")
async def list_incidents(
    session: ReadSession,
    live: Live,
    now: Now,
    status: StatusFilter | None = None,
    page: str | None = None,
    draft: bool | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IncidentList:
    """Newest first (by start). `since` inclusive and `before` exclusive bound the start."""
    found = await incidents.list_incidents(
        session,
        status=status,
        page=page,
        draft=draft,
        since=_utc(since),
        before=_utc(before),
        limit=limit,
        offset=offset,
    )
    config = live.config
    return IncidentList(items=[incidents.view_of(i, config, now) for i in found])


@router.post("/incidents", status_code=201)
async def open_incident(
    body: NewIncident, session: WriteSession, live: Live, notifier: NotifierDep, now: Now
) -> IncidentView:
    config = live.config
    incident = await incidents.open_incident(
        session,
        notifier,
        config,
        now,
        title=body.title,
        status=body.status,
        impact=body.impact,
        pages=body.pages,
        components=_changes(body.components),
        message=body.body,
        draft=body.draft,
    )
    await session.commit()
    notifier.wake()
    return incidents.view_of(incident, config, now)


@router.get("/incidents/{incident_id}")
async def get_incident(
    incident_id: str, session: ReadSession, live: Live, now: Now
) -> IncidentView:
    return incidents.view_of(await incidents.get(session, incident_id), live.config, now)


@router.patch("/incidents/{incident_id}")
async def patch_incident(
    incident_id: str,
    body: IncidentPatch,
    session: WriteSession,
    live: Live,
    notifier: NotifierDep,
    now: Now,
) -> IncidentView:
    incident = await incidents.patch(
        session, notifier, now, incident_id, title=body.title, impact=body.impact, draft=body.draft
    )
    await session.commit()
    notifier.wake()
    return incidents.view_of(incident, live.config, now)


@router.post("/incidents/{incident_id}/updates", status_code=201)
async def post_update(
    incident_id: str,
    body: NewUpdate,
    session: WriteSession,
    live: Live,
    notifier: NotifierDep,
    now: Now,
) -> IncidentView:
    config = live.config
    incident = await incidents.post_update(
        session,
        notifier,
        config,
        now,
        incident_id,
        status=body.status,
        message=body.body,
        components=_changes(body.components),
    )
    await session.commit()
    notifier.wake()
    return incidents.view_of(incident, config, now)
