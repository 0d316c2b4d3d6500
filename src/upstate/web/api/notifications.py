"""/api/v1/notifications: the delivery log, one item per notification and target.

Newest first, paged by id: pass `next_before` back as `before` for the next (older)
page, which stays stable while new notifications arrive. Errors are shown as the
channels wrote them, already redacted of secrets.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from upstate.services import delivery
from upstate.services.delivery import NotificationPage, NotificationView
from upstate.web.deps import ReadSession

router = APIRouter(prefix="/api/v1", tags=["notifications"])

MAX_PAGE = 500

State = Literal["pending", "sent", "skipped", "failed"]


@router.get("/notifications")
async def list_notifications(
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
    target: str | None = None,
    state: State | None = None,
    kind: str | None = None,
) -> NotificationPage:
    """Filters: `target` (a channel key or subscriber:<id>), `state`, `kind` (the event
    kind, e.g. monitor.down or test)."""
    return await delivery.notification_page(
        session, limit=limit, before=before, target=target, state=state, kind=kind
    )


@router.get("/notifications/{notification_id}")
async def get_notification(notification_id: int, session: ReadSession) -> NotificationView:
    return await delivery.get_notification(session, notification_id)
