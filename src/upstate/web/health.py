"""/healthz (the process answers), /readyz (it can do its job), /metrics (Prometheus).

Readiness is a real round trip to the database (`SELECT 1`, at most READY_TIMEOUT_S)
plus the engine's own view: its scheduler loop runs and its last write reached the
database. Any of them failing answers 503 with the reasons, for a load balancer to
route around this process and for a person to read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from upstate.services.queries import database_alive
from upstate.web.auth import require_token_for_metrics
from upstate.web.deps import State

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready; `reasons` says why"}})
async def readyz(state: State) -> JSONResponse:
    reasons: list[str] = []
    try:
        async with asyncio.timeout(READY_TIMEOUT_S), state.sessions() as session:
            await database_alive(session)
    except TimeoutError:
        reasons.append(f"database: no answer within {READY_TIMEOUT_S:g}s")
    except Exception as exc:  # whatever the driver raises, readiness answers
        logger.warning("readiness database check failed error=%s", type(exc).__name__)
        reasons.append(f"database: unreachable ({type(exc).__name__})")
    health = state.engine.health()
    if not health.running:
        reasons.append("scheduler: not running")
    if not health.database_ok:
        reasons.append("results: the last write did not reach the database")
    body: dict[str, Any] = {
        "status": "ready" if not reasons else "unavailable",
        "reasons": reasons,
        "engine": {
            "running": health.running,
            "database_ok": health.database_ok,
            "buffered_results": health.buffered_results,
            "dropped_results": health.dropped_results,
        },
    }
    return JSONResponse(body, status_code=200 if not reasons else 503)


@router.get("/metrics", dependencies=[Depends(require_token_for_metrics)])
async def metrics(state: State) -> Response:
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
