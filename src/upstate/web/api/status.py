"""/api/v1/status: the overall status and each monitor's."""

from __future__ import annotations

from fastapi import APIRouter

from upstate.services import queries
from upstate.services.queries import OverallView
from upstate.web.deps import ReadSession

router = APIRouter(prefix="/api/v1", tags=["status"])


@router.get("/status")
async def status(session: ReadSession) -> OverallView:
    """`down` when a critical monitor is down; `degraded` when another is down or any is
    degraded; else `operational`."""
    return await queries.overall(session)
