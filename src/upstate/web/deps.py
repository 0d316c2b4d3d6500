"""What routes are handed: the app's wiring (AppState) and a database session per request.

A request's session is committed when the route returns, before the answer is sent
(`scope="function"`), so a write the client is told about is a write that happened;
an exception rolls it back. Routes that write begin their transaction IMMEDIATE: on
SQLite, a transaction that reads then writes must hold the write lock from its start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate.config import Settings
from upstate.services.engine import MonitoringEngine
from upstate.services.live import LiveConfig
from upstate.services.notifier import Notifier
from upstate.services.secrets import SecretBox
from upstate.store.db import IMMEDIATE


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AppState:
    """Everything create_app() was given; reached through `request.app.state.upstate`."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    engine: MonitoringEngine
    registry: CollectorRegistry
    secrets: SecretBox
    clock: Callable[[], datetime]
    config_name: str  # how a Conflict names the config file
    live: LiveConfig  # the config now: status pages, board, channels (read, never keep)
    notifier: Notifier  # queues notifications in a route's transaction; wakes delivery
    # Told after a maintenance window was written (the maintenance loop re-reads them).
    maintenance_changed: Callable[[], None] = lambda: None


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.upstate
    return state


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with app_state(request).sessions() as session:
        yield session
        await session.commit()


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with app_state(request).sessions() as session:
        await session.connection(execution_options=IMMEDIATE)
        yield session
        await session.commit()


def _engine(request: Request) -> MonitoringEngine:
    return app_state(request).engine


def _now(request: Request) -> datetime:
    return app_state(request).clock()


def _base_url(request: Request) -> str:
    """Where this server is reached: UPSTATE_BASE_URL, else what the request was sent to."""
    configured = app_state(request).settings.base_url
    return (configured or str(request.base_url)).rstrip("/")


State = Annotated[AppState, Depends(app_state)]
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]


def _live(request: Request) -> LiveConfig:
    return app_state(request).live


def _notifier(request: Request) -> Notifier:
    return app_state(request).notifier


Engine = Annotated[MonitoringEngine, Depends(_engine)]
Live = Annotated[LiveConfig, Depends(_live)]
NotifierDep = Annotated[Notifier, Depends(_notifier)]
Now = Annotated[datetime, Depends(_now)]
BaseUrl = Annotated[str, Depends(_base_url)]
