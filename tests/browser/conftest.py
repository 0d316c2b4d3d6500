"""Browser tests: a real Upstate on uvicorn (127.0.0.1, temp SQLite, seeded by seed.py)
and headless Chromium driven by Playwright.

Chromium is Debian's /usr/bin/chromium (`executable_path`: no browser download). When it
or Playwright is missing the tests skip and say why, unless UPSTATE_REQUIRE_BROWSER=1,
where they fail. axe-core comes from npm through this folder's package.json
(`npm ci --prefix tests/browser`); without it the accessibility test skips the same way.

Screenshots go to the test's tmp dir and a copy to /tmp/upstate-shots/ (paths printed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from tests.browser import seed
from tests.web.conftest import Clock, LoopbackEngine
from upstate.config import Settings
from upstate.domain.enums import Status
from upstate.services.secrets import SecretBox
from upstate.store import migrate
from upstate.store.db import make_engine, session_factory
from upstate.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path("/tmp/upstate-shots")
REQUIRE = os.environ.get("UPSTATE_REQUIRE_BROWSER") == "1"


def unavailable(reason: str) -> None:
    """Skip with the reason, or fail when the browser tests are required."""
    if REQUIRE:
        pytest.fail(f"UPSTATE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@dataclass
class LiveServer:
    url: str
    database_url: str

    def set_status(self, key: str, status: Status) -> None:
        """Change a monitor's current state in the database (as the engine would)."""

        async def change() -> None:
            engine = make_engine(self.database_url)
            try:
                async with session_factory(engine)() as session:
                    await seed.set_status(session, key, status, seed.NOW)
                    await session.commit()
            finally:
                await engine.dispose()

        in_thread(change)


def in_thread(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to its end on a loop of its own (pytest-asyncio may run one here)."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(work())
        except BaseException as exc:  # handed to the caller
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if failures:
        raise failures[0]


# Package scope, not session: Playwright's sync API keeps an event loop running in the
# main thread while it is open, and the rest of the suite's fixtures call asyncio.run().
@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'upstate.db'}"
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        await migrate.upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        async with sessions() as session:
            await seed.seed(session)
            await session.commit()
        box = SecretBox.from_text(SecretBox.new_key())
        app = create_app(
            settings=Settings(_env_file=None, database_url=url),
            session_factory=sessions,
            engine=LoopbackEngine(sessions, box),
            registry=CollectorRegistry(),
            secrets=box,
            clock=Clock(seed.NOW),
        )
        app.state.upstate.live.swap(seed.config())
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = holder["server"] = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        holder["port"] = server.servers[0].sockets[0].getsockname()[1]
        ready.set()
        await task
        await engine.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(20), "the test server did not start"
    yield LiveServer(f"http://127.0.0.1:{holder['port']}", url)
    holder["server"].should_exit = True
    thread.join(10)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_script() -> str:
    if not AXE.exists():
        unavailable(f"{AXE} is missing: run `npm ci --prefix tests/browser`")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    SHOTS.mkdir(parents=True, exist_ok=True)
    for shot in sorted(folder.glob("*.png")):
        shutil.copy(shot, SHOTS / shot.name)
    print(f"\nscreenshots: {folder} (copied to {SHOTS})")
