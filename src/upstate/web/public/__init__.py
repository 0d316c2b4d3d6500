"""What the world sees, without a token: status pages, their Statuspage-compatible JSON,
badges, feeds, subscribing, and the board. Never a secret, an internal URL or a private
monitor (tests/web/public/test_no_leaks.py plants canaries and scans every route)."""

from __future__ import annotations

from fastapi import APIRouter

from upstate.web.public import badges, board, feeds, pages, statuspage, subscribe

router = APIRouter()
for _module in (statuspage, feeds, subscribe, badges, board, pages):
    router.include_router(_module.router)
