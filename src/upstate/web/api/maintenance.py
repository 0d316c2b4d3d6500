"""/api/v1/maintenance: list, create, read, edit, delete maintenance windows.

A body is one window as written under `maintenance:` in upstate.yaml: `title`,
`description`, `monitors`, and either `start` with `end` (or `duration`) or a cron
`schedule` with `duration` and `timezone`; durations as text ("2h"). PATCH is a JSON merge
patch of those fields, and may set `status` to `verifying` or `completed` (end early) on a
one-off window. Windows from the config file are read-only here (409: edit the file).
Answers give each window's status at the moment asked and its current or next
occurrence. The maintenance loop notices changes within seconds (it polls the table).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel

from upstate.services import maintenance
from upstate.services.maintenance import MaintenanceView
from upstate.web.deps import Now, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1", tags=["maintenance"])

WindowBody = Annotated[
    dict[str, Any],
    Body(
        description="One window as written under `maintenance:` in upstate.yaml.",
        examples=[
            {
                "title": "Database upgrade",
                "monitors": ["api"],
                "start": "2026-05-01T22:00:00Z",
                "end": "2026-05-01T23:00:00Z",
            }
        ],
    ),
]
PatchBody = Annotated[
    dict[str, Any],
    Body(
        description="A JSON merge patch of the window's fields; `status` may be "
        "'verifying' or 'completed' (ends it now)."
    ),
]


class MaintenanceList(BaseModel):
    items: list[MaintenanceView]


@router.get("/maintenance")
async def list_windows(session: ReadSession, now: Now) -> MaintenanceList:
    return MaintenanceList(items=await maintenance.list_views(session, now))


@router.post("/maintenance", status_code=201)
async def create_window(
    body: WindowBody, session: WriteSession, state: State, now: Now
) -> MaintenanceView:
    view = await maintenance.create(session, body, now)
    await session.commit()
    state.maintenance_changed()
    return view


@router.get("/maintenance/{window_id}")
async def get_window(window_id: str, session: ReadSession, now: Now) -> MaintenanceView:
    return await maintenance.get_view(session, window_id, now)


@router.patch("/maintenance/{window_id}")
async def patch_window(
    window_id: str, body: PatchBody, session: WriteSession, state: State, now: Now
) -> MaintenanceView:
    view = await maintenance.patch(session, window_id, body, now, config_name=state.config_name)
    await session.commit()
    state.maintenance_changed()
    return view


@router.delete("/maintenance/{window_id}", status_code=204)
async def delete_window(window_id: str, session: WriteSession, state: State) -> Response:
    await maintenance.delete(session, window_id, config_name=state.config_name)
    await session.commit()
    state.maintenance_changed()
    return Response(status_code=204)
