"""`upstate export-static --page SLUG --out DIR [--every 60s]`: a status page that
survives its own outage.

The real app is built in this process on the configured database (create_app, with an
engine that refuses to check or take pings: nothing is monitored from here) and every
public route of the page is fetched through httpx.ASGITransport, never over the network.
So each file of the copy is byte for byte what the live page serves, except the HTML's
links, made relative (services.export says how). The copy is swapped into DIR whole; a
failed export leaves the previous copy in place.

Private pages (access `password` or `signed_in`) are refused: a static copy has no
door, so exporting one would publish it. The page's language is its `language`, else
English (there is no visitor to ask).

Exit status: 0 written, 1 not written (the previous copy stays), 2 usage error. With
`--every`, the command exports, waits, and exports again until SIGTERM or SIGINT; a
failed round is logged and the next one tries again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate.config import Settings
from upstate.config.loader import load_config
from upstate.config.models import UpstateConfig
from upstate.config.pages import StatusPage
from upstate.domain.durations import parse_duration
from upstate.errors import UpstateError, UsageError
from upstate.services import pages as page_service
from upstate.services.checks import CheckResult
from upstate.services.engine import EngineHealth, PingSignal
from upstate.services.export import (
    Document,
    ExportError,
    export_plan,
    rewrite_html,
    site_map,
    write_copy,
)
from upstate.services.live import LiveConfig
from upstate.services.secrets import SecretBox
from upstate.store.db import make_engine, session_factory
from upstate.web.app import create_app
from upstate.web.deps import AppState, utc_now
from upstate.web.public import badges, statuspage

logger = logging.getLogger(__name__)

EXIT_WRITTEN, EXIT_FAILED = 0, 1
MIN_EVERY_S = 1.0
_BASE = "http://upstate.export"  # never resolved: requests go through ASGITransport


def add_parser(commands: Any) -> None:
    export = commands.add_parser(
        "export-static",
        help="write a static copy of a status page that any static host can serve",
        description=(
            "Writes index.html, history, incidents, heatmap, the Statuspage JSON, badges "
            "and feeds of one public page into DIR, replacing the previous copy whole. "
            "Exit status: 0 written, 1 not written (the previous copy stays), 2 usage error."
        ),
    )
    export.add_argument("--page", required=True, metavar="SLUG", help="the status page's slug")
    export.add_argument("--out", required=True, metavar="DIR", help="where the copy goes")
    export.add_argument(
        "--every",
        metavar="DURATION",
        help="export again every DURATION (e.g. 60s) until SIGTERM or SIGINT",
    )
    export.add_argument("--config", help="the config that defines the page (or UPSTATE_CONFIG)")
    export.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])


def run(args: argparse.Namespace, settings: Settings) -> int:
    every = _every(args.every)
    if not settings.config:
        raise UsageError(
            "export-static needs the config that defines the page: --config FILE "
            "(or UPSTATE_CONFIG)"
        )
    config = load_config(settings.config)
    public_page(config, args.page)  # refuse before touching the database or DIR
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per fetched route
    live = LiveConfig(config, path=settings.config)
    return uvloop.run(_main(settings, live, args.page, Path(args.out), every))


def _every(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--every: {exc}") from None
    if seconds < MIN_EVERY_S:
        raise UsageError(f"--every {text}: at least 1s")
    return seconds


def public_page(config: UpstateConfig, slug: str) -> StatusPage:
    """The page to export; UsageError when there is none or it is private."""
    page = next((p for p in config.status_pages if p.slug == slug), None)
    if page is None:
        known = ", ".join(p.slug for p in config.status_pages) or "none"
        raise UsageError(f"no status page {slug!r} in the config (pages: {known})")
    if page.access != "public":
        raise UsageError(
            f"status page {slug!r} is private (access: {page.access}): a static copy has "
            "no sign-in, so exporting it would publish it to anyone"
        )
    return page


class OfflineEngine:
    """A MonitoringEngine for an app that only renders: it checks nothing."""

    async def check_now(self, key: str) -> CheckResult:
        raise UsageError("monitors are not checked while exporting a static copy")

    async def ping(self, token: str, signal: PingSignal) -> bool:
        return False

    def reload(self) -> None:
        return None

    def health(self) -> EngineHealth:
        return EngineHealth(running=False, database_ok=True, buffered_results=0, dropped_results=0)


def build_app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    live: LiveConfig,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The real app, for rendering only: it never listens (so the exposure check has
    nothing to guard) and decrypts nothing (a throwaway key, no key file created)."""
    return create_app(
        settings=settings.model_copy(update={"host": "127.0.0.1"}),
        session_factory=sessions,
        engine=OfflineEngine(),
        registry=CollectorRegistry(),
        secrets=SecretBox.from_text(SecretBox.new_key()),
        clock=clock,
        live=live,
    )


def badge_paths() -> list[str]:
    """The badge files of one monitor, as web.public.badges serves them."""
    return [
        "status.svg",
        "shields.json",
        *(f"uptime/{window}.svg" for window in badges.UPTIME_WINDOWS),
        *(f"response-time/{window}.svg" for window in badges.RESPONSE_WINDOWS),
    ]


async def _get(client: httpx.AsyncClient, target: str, *, missing_ok: bool = False) -> bytes | None:
    """The body of a 200 answer; None for a 404 when `missing_ok`; else ExportError."""
    response = await client.get(target)
    if response.status_code == 404 and missing_ok:
        return None
    if response.status_code != 200:
        raise ExportError(f"GET {target} answered {response.status_code}")
    return response.content


async def export_page(app: FastAPI, slug: str, out: Path) -> int:
    """Fetch every route of the page through `app`, write the copy into `out` and
    return the number of files. ExportError (nothing changed in `out`) when a route
    does not answer 200 or the copy cannot be written; UsageError for a private page."""
    state: AppState = app.state.upstate
    page = public_page(state.live.config, slug)
    try:
        async with state.sessions() as session:
            plan = await export_plan(session, page, state.clock())
    except (SQLAlchemyError, OSError) as exc:
        raise ExportError(f"cannot read the page's incidents: {type(exc).__name__}") from exc
    site = site_map(
        page,
        plan,
        v2_endpoints=statuspage.ENDPOINTS,
        rt_windows=page_service.RESPONSE_WINDOWS,
        badge_paths=badge_paths(),
    )
    files: dict[str, bytes] = {}
    linked: set[str] = set()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=_BASE) as client:
        for here, local in site.html.items():
            text = (await _get(client, here) or b"").decode("utf-8")
            files[local] = rewrite_html(text, Document(here, local), site.local, linked).encode()
        for here, local in site.files.items():
            # A monitor the server has not stored yet has no uptime badge live either.
            body = await _get(client, here, missing_ok=local.startswith("badges/"))
            if body is not None:
                files[local] = body
        for target in sorted(linked):  # the static assets the HTML references
            asset = site.local(target)
            if asset is not None and asset not in files:
                files[asset] = await _get(client, target) or b""
    await asyncio.to_thread(write_copy, out, files)
    return len(files)


async def export_every(
    app: FastAPI, slug: str, out: Path, every: float, stop: asyncio.Event
) -> int:
    """Export, then again every `every` seconds, until `stop` is set. A failed round is
    logged (the previous copy stays) and the next one tries again. Returns the rounds
    that wrote a copy."""
    written = 0
    while not stop.is_set():
        try:
            count = await export_page(app, slug, out)
        except (ExportError, UpstateError) as exc:
            logger.error("static copy not written slug=%s error=%s kept=previous copy", slug, exc)
        except Exception:  # the loop must outlive a bad round (e.g. the database is away)
            logger.exception("static copy failed slug=%s kept=previous copy", slug)
        else:
            written += 1
            logger.info("static copy written slug=%s out=%s files=%d", slug, out, count)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return written


async def _main(
    settings: Settings, live: LiveConfig, slug: str, out: Path, every: float | None
) -> int:
    db = make_engine(settings.database_url)
    try:
        app = build_app(settings, session_factory(db), live)
        if every is None:
            try:
                count = await export_page(app, slug, out)
            except ExportError as exc:
                print(f"upstate: static copy not written: {exc}", file=sys.stderr)
                return EXIT_FAILED
            print(f"static copy of {slug} written to {out} ({count} files)")
            return EXIT_WRITTEN
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        logger.info("exporting slug=%s out=%s every=%ss", slug, out, every)
        await export_every(app, slug, out, every, stop)
        logger.info("stopped")
        return EXIT_WRITTEN
    finally:
        await db.dispose()
