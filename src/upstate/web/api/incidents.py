"""/api/v1/incidents (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["incidents"])
