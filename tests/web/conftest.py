"""The app under test: create_app() on a real database (SQLite and PostgreSQL), a small
in-test MonitoringEngine that runs real probes against loopback targets, and an httpx
client speaking ASGI to it.

Fixtures: `box` (a SecretBox), `clock` (a settable clock), `loop_engine` (LoopbackEngine),
`registry`, `settings`, `make_app(**settings)`, `app`, `client`, `make_client(app)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures.db import TestDatabase
from upstate.config import Settings
from upstate.errors import NotFound
from upstate.probes.base import ProbeContext
from upstate.services.checks import CheckResult, run_check
from upstate.services.engine import EngineHealth, PingSignal
from upstate.services.monitors import rebuild
from upstate.services.secrets import SecretBox
from upstate.store import monitors as monitor_store
from upstate.web.app import create_app

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
BASE = "http://upstate.test"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class LoopbackEngine:
    """Implements services.engine.MonitoringEngine the simplest real way: check_now rebuilds
    the stored monitor and probes it; ping looks the token up and records the signal."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self.sessions = sessions
        self.box = box
        self.pings: list[tuple[str, PingSignal]] = []
        self.reloads = 0
        self.running = True
        self.database_ok = True

    async def check_now(self, key: str) -> CheckResult:
        async with self.sessions() as session:
            record = await monitor_store.get_by_key(session, key)
        if record is None:
            raise NotFound(f"no monitor has the key {key!r}")
        definition = rebuild(record, self.box).check_definition()
        return await run_check(definition, ProbeContext())

    async def ping(self, token: str, signal: PingSignal) -> bool:
        async with self.sessions() as session:
            record = await monitor_store.get_by_token(session, token)
        if record is None:
            return False
        self.pings.append((record.key, signal))
        return True

    def reload(self) -> None:
        self.reloads += 1

    def health(self) -> EngineHealth:
        return EngineHealth(self.running, self.database_ok, 3, 0)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_text(SecretBox.new_key())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def loop_engine(db: TestDatabase, box: SecretBox) -> LoopbackEngine:
    return LoopbackEngine(db.sessions, box)


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    up = Gauge("upstate_monitor_up", "1 when up", ["monitor"], registry=registry)
    up.labels("api").set(1)
    return registry


@pytest.fixture
def make_app(
    db: TestDatabase,
    loop_engine: LoopbackEngine,
    registry: CollectorRegistry,
    box: SecretBox,
    clock: Clock,
) -> Callable[..., FastAPI]:
    def make(sessions: async_sessionmaker[AsyncSession] | None = None, **values: Any) -> FastAPI:
        settings = Settings(_env_file=None, database_url=db.url, **values)
        return create_app(
            settings=settings,
            session_factory=sessions or db.sessions,
            engine=loop_engine,
            registry=registry,
            config_path="/etc/upstate/upstate.yaml",
            secrets=box,
            clock=clock,
        )

    return make


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    opened: list[httpx.AsyncClient] = []

    def make(app: FastAPI, **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url=BASE, **kwargs)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
def client(app: FastAPI, make_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return make_client(app)
