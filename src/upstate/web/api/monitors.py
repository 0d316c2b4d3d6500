"""/api/v1/monitors: list, create, read, patch, delete; results, uptime, changes, check now.

Bodies are monitors in the config file's language (durations as text, conditions as
strings); see services/monitor_input.py. After a write commits, the engine is told to
reload, so a new or edited monitor runs at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel

from upstate.services import monitors, queries
from upstate.services.checks import result_to_json
from upstate.services.monitors import MonitorView
from upstate.services.queries import ChangeView, ResultsPage, UptimeView
from upstate.services.secrets import redact_all
from upstate.web.deps import BaseUrl, Engine, Now, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1", tags=["monitors"])

MAX_PAGE = 1000  # what the store serves at most in one page

MonitorBody = Annotated[
    dict[str, Any],
    Body(
        description="One monitor as written under `monitors:` in upstate.yaml.",
        examples=[{"key": "api", "kind": "http", "url": "https://example.com/healthz"}],
    ),
]
PatchBody = Annotated[
    dict[str, Any],
    Body(description="A JSON merge patch (RFC 7396) of the monitor's definition."),
]


class MonitorList(BaseModel):
    items: list[MonitorView]


class ChangeList(BaseModel):
    items: list[ChangeView]


def _utc(value: datetime | None) -> datetime | None:
    """Query times without a zone are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get("/monitors")
async def list_monitors(session: ReadSession, base_url: BaseUrl) -> MonitorList:
    return MonitorList(items=await monitors.list_monitors(session, base_url=base_url))


@router.post("/monitors", status_code=201)
async def create_monitor(
    body: MonitorBody,
    session: WriteSession,
    state: State,
    engine: Engine,
    now: Now,
    base_url: BaseUrl,
) -> MonitorView:
    view = await monitors.create_monitor(
        session,
        body,
        secrets=state.secrets,
        now=now,
        base_url=base_url,
        config_name=state.config_name,
    )
    await session.commit()
    engine.reload()
    return view


@router.get("/monitors/{key}")
async def get_monitor(key: str, session: ReadSession, base_url: BaseUrl) -> MonitorView:
    return await monitors.get_monitor(session, key, base_url=base_url)


@router.patch("/monitors/{key}")
async def update_monitor(
    key: str,
    patch: PatchBody,
    session: WriteSession,
    state: State,
    engine: Engine,
    now: Now,
    base_url: BaseUrl,
) -> MonitorView:
    view = await monitors.update_monitor(
        session,
        key,
        patch,
        secrets=state.secrets,
        now=now,
        base_url=base_url,
        config_name=state.config_name,
    )
    await session.commit()
    engine.reload()
    return view


@router.delete("/monitors/{key}", status_code=204)
async def delete_monitor(key: str, session: WriteSession, state: State, engine: Engine) -> Response:
    await monitors.delete_monitor(session, key, config_name=state.config_name)
    await session.commit()
    engine.reload()
    return Response(status_code=204)


@router.get("/monitors/{key}/results")
async def results(
    key: str,
    session: ReadSession,
    since: datetime | None = None,
    until: datetime | None = None,
    region: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> ResultsPage:
    """Newest first. `since` is inclusive, `until` exclusive; pass `next_cursor` back as
    `cursor` for the next page (pages stay stable while new results arrive)."""
    return await queries.results_page(
        session,
        key,
        since=_utc(since),
        until=_utc(until),
        region=region,
        cursor=cursor,
        limit=limit,
    )


@router.get("/monitors/{key}/uptime")
async def uptime(
    key: str,
    session: ReadSession,
    now: Now,
    window: Literal["24h", "7d", "30d", "90d"] = "24h",
) -> UptimeView:
    """Uptime %, downtime and outages from status changes (maintenance, pauses and
    unknown time left out); latency percentiles from hourly rollups."""
    return await queries.uptime(session, key, window, now=now)


@router.get("/monitors/{key}/changes")
async def changes(
    key: str,
    session: ReadSession,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ChangeList:
    """Status changes, newest first; for older ones pass the oldest `at` as `until`."""
    items = await queries.changes_of(
        session, key, since=_utc(since), until=_utc(until), limit=limit
    )
    return ChangeList(items=items)


@router.post("/monitors/{key}/check")
async def check_now(key: str, engine: Engine) -> dict[str, Any]:
    """Probe the monitor now (outside its schedule) and answer what it saw."""
    result = await engine.check_now(key)
    answer: dict[str, Any] = redact_all(result_to_json(result))
    return answer
