"""create_app(): the web layer wired to what cli.py built. No globals: app.state holds it all.

Routes: /api/v1/... (the JSON API, token-guarded when a token is set), /ping/... (push
monitors), /healthz, /readyz, /metrics, and /api/docs with /api/openapi.json. In front of
them, web/fastpath.py answers fresh cached public pages without routing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate import __version__
from upstate.config import Settings
from upstate.services.engine import MonitoringEngine
from upstate.services.live import LiveConfig
from upstate.services.notifier import Notifier, NotifyConfig
from upstate.services.secrets import SecretBox, load_secret_box
from upstate.web import api, docs, errors, health, ping, public
from upstate.web.auth import check_exposure
from upstate.web.deps import AppState, utc_now
from upstate.web.fastpath import FastPath


def create_app(
    *,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    engine: MonitoringEngine,
    registry: CollectorRegistry,
    config_path: str | Path | None = None,
    secrets: SecretBox | None = None,
    clock: Callable[[], datetime] = utc_now,
    live: LiveConfig | None = None,
    notifier: Notifier | None = None,
    on_maintenance_change: Callable[[], None] | None = None,
) -> FastAPI:
    """The ASGI app. `secrets` is the box the engine decrypts with (loaded from settings
    when not given); `config_path` names the file in "edit the file instead" answers.

    Raises UsageError when settings.host is not loopback and no API token is set.
    """
    check_exposure(settings.host, settings.api_token is not None)
    app = FastAPI(
        title="Upstate",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=docs.OPENAPI_URL,
    )
    app.state.upstate = AppState(
        settings=settings,
        sessions=session_factory,
        engine=engine,
        registry=registry,
        secrets=secrets if secrets is not None else load_secret_box(settings),
        clock=clock,
        config_name=Path(config_path).name if config_path else "the config file",
        live=live if live is not None else LiveConfig(),
        notifier=notifier if notifier is not None else Notifier(NotifyConfig(), states=dict),
        maintenance_changed=on_maintenance_change or (lambda: None),
    )
    errors.install(app)
    app.include_router(api.router)
    app.include_router(public.router)
    app.include_router(ping.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.add_middleware(FastPath)  # cached public hits answered before routing
    return app
