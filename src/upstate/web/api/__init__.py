"""The JSON API, v1: every route here needs the API token when one is set."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from upstate.web.api import (
    channels,
    incidents,
    maintenance,
    monitors,
    notifications,
    pages,
    status,
    subscribers,
)
from upstate.web.auth import require_token

router = APIRouter(dependencies=[Depends(require_token)])
router.include_router(monitors.router)
router.include_router(status.router)
for _module in (channels, notifications, incidents, maintenance, subscribers, pages):
    router.include_router(_module.router)
