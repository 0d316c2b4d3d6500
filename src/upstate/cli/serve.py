"""`upstate serve`: web, scheduler, evaluator, notifier and delivery in one process.

Start: load the config (refusing to start on an invalid one), run the migrations, sync
the config's monitors and maintenance windows into the database by key, start the
engine and the loops beside it (outbox delivery, the notifier's sweep, maintenance
windows, the board's heartbeat push), then serve HTTP.
SIGHUP, or a change of the file, reloads the config: monitors are created, updated and
removed by key; an invalid file is refused with its errors logged and the running set
kept. SIGTERM / SIGINT: stop accepting, let in-flight probes finish within their
timeout, flush pending results, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate.config import Settings
from upstate.config.loader import load_config
from upstate.config.models import UpstateConfig
from upstate.config.notifications import Channel
from upstate.errors import ConfigError, UsageError
from upstate.notify.base import NotifyContext, http_client
from upstate.probes.base import ProbeContext, utc_now
from upstate.scheduler.board_push import BoardPush
from upstate.scheduler.delivery import DeliveryLoop
from upstate.scheduler.engine import Engine
from upstate.scheduler.maintenance import MaintenanceLoop
from upstate.scheduler.sweep import NotifySweep
from upstate.services import maintenance as maintenance_service
from upstate.services import runtime, subscribers
from upstate.services.board import board_cache
from upstate.services.delivery import Deliverer
from upstate.services.live import LiveConfig
from upstate.services.monitors import SyncReport, load_monitor_models, sync_config
from upstate.services.notifier import Notifier, NotifyConfig
from upstate.services.secrets import SecretBox, load_secret_box
from upstate.store.db import IMMEDIATE, make_engine, session_factory
from upstate.store.migrate import upgrade
from upstate.store.outbox import SUBSCRIBER_PREFIX
from upstate.web.app import create_app

logger = logging.getLogger(__name__)

WATCH_EVERY_S = 2.0
STOP_GRACE_S = 15.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _FileStamp:
    inode: int
    size: int
    mtime_ns: int


def _stamp(path: Path) -> _FileStamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _FileStamp(st.st_ino, st.st_size, st.st_mtime_ns)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: serve() owns SIGTERM, SIGINT and SIGHUP
    (uvicorn re-raises a captured signal after shutdown, which would kill the process
    before pending results are flushed)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ConfigReloader:
    """Re-reads the config file on demand (SIGHUP) or when it changes on disk."""

    def __init__(
        self,
        path: Path,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        engine: Engine,
        loaded: UpstateConfig,
        *,
        live: LiveConfig,
        notifier: Notifier,
        maintenance: MaintenanceLoop,
    ) -> None:
        self.path = path
        self._sessions = sessions
        self._box = box
        self._engine = engine
        self._live = live
        self._notifier = notifier
        self._maintenance = maintenance
        self._stamp = _stamp(path)
        self._wake = asyncio.Event()
        self.config = loaded

    def trigger(self) -> None:
        self._wake.set()

    async def watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), WATCH_EVERY_S)
            forced = self._wake.is_set()
            self._wake.clear()
            stamp = _stamp(self.path)
            if forced or (stamp is not None and stamp != self._stamp):
                self._stamp = stamp
                await self.reload()  # never raises: the watcher must outlive a bad reload

    async def reload(self) -> bool:
        try:
            config = await asyncio.to_thread(load_config, self.path)
        except ConfigError as exc:
            for issue in exc.issues:
                logger.error("config reload refused: %s", issue)
            logger.error("config reload refused file=%s kept=running set", self.path)
            return False
        try:
            report = await _sync(self._sessions, config, self._box)
        except Exception:
            # e.g. the database is away: keep running, and try again on the next change
            # or SIGHUP (forget the file's stamp so the next look sees it as changed).
            logger.exception("config reload failed file=%s kept=running set", self.path)
            self._stamp = None
            return False
        self.config = config
        self._live.swap(config)
        self._notifier.config = NotifyConfig.from_config(config)
        self._maintenance.reload()
        logger.info(
            "config reloaded file=%s created=%d updated=%d removed=%d",
            self.path,
            len(report.created),
            len(report.updated),
            len(report.removed),
        )
        self._engine.reload()
        return True


async def _sync(
    sessions: async_sessionmaker[AsyncSession], config: UpstateConfig, box: SecretBox
) -> SyncReport:
    """The config's monitors and maintenance windows into the database, in one IMMEDIATE
    transaction (it reads, then writes: on SQLite a deferred one fails at once if the
    result writer commits in between)."""
    async with sessions() as session:
        await session.connection(execution_options=IMMEDIATE)
        now = utc_now()
        report = await sync_config(session, config, secrets=box, now=now)
        await maintenance_service.sync_config(session, config, now)
        await session.commit()
    return report


async def serve(settings: Settings, config_path: str | None) -> int:
    if not is_loopback(settings.host) and settings.api_token is None:
        raise UsageError(
            f"--host {settings.host} is reachable from other machines: set UPSTATE_API_TOKEN "
            "(or UPSTATE_API_TOKEN_FILE) so the API is not open to them"
        )
    config = load_config(config_path) if config_path else None
    await upgrade(settings.database_url)
    db = make_engine(settings.database_url)
    sessions = session_factory(db)
    box = load_secret_box(settings)
    if config is not None:
        report = await _sync(sessions, config, box)
        logger.info(
            "config loaded file=%s monitors=%d created=%d updated=%d removed=%d",
            config_path,
            len(config.monitors),
            len(report.created),
            len(report.updated),
            len(report.removed),
        )
    registry = CollectorRegistry()
    live = LiveConfig(config or UpstateConfig(), path=config_path)
    # Links in messages (unsubscribe, incident pages) must be absolute: without a
    # configured public URL, the address this server listens on is the best guess.
    base_url = settings.base_url or f"http://{settings.host}:{settings.port}"
    engine: Engine | None = None
    notifier = Notifier(
        NotifyConfig.from_config(config),
        states=lambda: engine.states() if engine is not None else {},
        base_url=base_url,
    )
    engine = Engine(
        sessions,
        ProbeContext(region=settings.region),
        registry=registry,
        load_monitors=partial(
            runtime.load_monitors, load_models=partial(load_monitor_models, secrets=box)
        ),
        notifier=notifier,
    )
    http = http_client()

    async def resolve(target: str) -> Channel | None:
        if target.startswith(SUBSCRIBER_PREFIX):
            async with sessions() as session:
                return await subscribers.channel_for(
                    session, target, secrets=box, base_url=base_url
                )
        return notifier.config.channels.get(target)

    notify_ctx = NotifyContext.from_settings(settings, http, base_url=base_url)
    delivery = DeliveryLoop(Deliverer(sessions, resolve, notify_ctx))
    notifier.wake = delivery.wake
    sweep = NotifySweep(sessions, notifier, utc_now)
    maintenance = MaintenanceLoop(sessions, engine, notifier, utc_now)
    board = board_cache(sessions, live, utc_now)

    async def board_snapshot() -> Mapping[str, Any]:
        return (await board.get())[0]

    board_push = BoardPush(board_snapshot, live, http)
    app = create_app(
        settings=settings,
        session_factory=sessions,
        engine=engine,
        registry=registry,
        config_path=config_path,
        secrets=box,
        live=live,
        notifier=notifier,
        on_maintenance_change=maintenance.reload,
    )
    app.state.board_cache = board
    server = _Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="none",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )
    loop = asyncio.get_running_loop()
    reloader = None
    tasks: list[asyncio.Task[None]] = []
    if config_path and config is not None:
        reloader = ConfigReloader(
            Path(config_path),
            sessions,
            box,
            engine,
            config,
            live=live,
            notifier=notifier,
            maintenance=maintenance,
        )
        tasks.append(asyncio.create_task(reloader.watch(), name="config-watch"))
        loop.add_signal_handler(signal.SIGHUP, reloader.trigger)

    def _stop(signame: str) -> None:
        logger.info("stopping signal=%s", signame)
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, sig.name)
    logger.info(
        "serving url=http://%s:%d pid=%d database=%s",
        settings.host,
        settings.port,
        os.getpid(),
        settings.database_url.split("://", 1)[0],
    )

    async def start_engine_when_listening() -> None:
        # Monitors of Upstate itself (its /healthz) must not fail their first check
        # because the engine started before the port was open.
        while not server.started and not server.should_exit:  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.01)
        if not server.should_exit:
            await engine.start()
            delivery.start()
            sweep.start()
            maintenance.start()
            board_push.start()

    starter = asyncio.create_task(start_engine_when_listening(), name="engine-start")
    try:
        await server.serve()
        await starter
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await maintenance.stop()
        await sweep.stop()
        await board_push.stop()
        await engine.stop(STOP_GRACE_S)  # flushes the last status changes (and their rows)
        await delivery.stop()
        await http.aclose()
        await db.dispose()
        logger.info("stopped")
    return 0 if server.started else 1
