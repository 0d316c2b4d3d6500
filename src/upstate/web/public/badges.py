"""Public routes: badges (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
