"""`upstate export-static`: a page's static copy, fetched through the real app on a real
database (the browser tests' seeded world: incidents this month and last, maintenance,
response times), checked file by file.

Every link of every exported HTML document is followed inside the copy, so a link the
rewrite missed or broke fails here, as does a canary secret planted in a monitor's URL
and headers, a draft incident, or anything of the private page.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import logging
import posixpath
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.browser import seed
from tests.fixtures.db import TestDatabase
from tests.web.conftest import Clock
from upstate.cli import export
from upstate.config import Settings
from upstate.config.models import UpstateConfig
from upstate.config.pages import StatusPage
from upstate.domain.enums import MonitorKind
from upstate.domain.incidents import Impact, IncidentStatus, IncidentUpdate, new_incident
from upstate.errors import UsageError
from upstate.services.export import (
    FORM_NOTE,
    SUBSCRIBE_NOTE,
    Document,
    ExportError,
    rewrite_html,
    write_copy,
)
from upstate.services.live import LiveConfig
from upstate.store import incidents as incident_store
from upstate.store import monitors
from upstate.store.monitors import MonitorDraft, MonitorSource

CANARY = "exp-CANARY-7f3a"
FORBIDDEN = [
    CANARY,
    "internal.example",  # every seeded monitor's URL host
    "canary.internal",
    "Draft outage",
    "Build farm",  # the private page's component
    "Team status",
    "Traceback",
]
LINK = re.compile(r"""\s(?:href|src)="([^"]*)\"""")


def _page() -> StatusPage:
    data = {
        **seed.MAIN,
        "components": [*seed.MAIN["components"], {"name": "Canary", "monitors": ["canary"]}],
    }  # type: ignore[list-item]
    return StatusPage.model_validate(data)


def _config() -> UpstateConfig:
    _, team, docs = seed.pages()
    return UpstateConfig(status_pages=(_page(), team, docs))


async def _world(db: TestDatabase) -> Clock:
    """The seeded world, a monitor whose URL and headers hold the canary, and a draft."""
    async with db.sessions() as session:
        await seed.seed(session)
        await monitors.upsert(
            session,
            MonitorDraft(
                key="canary",
                name="Canary",
                kind=MonitorKind.HTTP,
                source=MonitorSource.CONFIG,
                definition={
                    "url": f"https://user:{CANARY}@canary.internal/health?token={CANARY}",
                    "headers": {"Authorization": f"Bearer {CANARY}"},
                },
                interval_s=30.0,
            ),
            now=seed.NOW - timedelta(days=3),
        )
        draft = new_incident(
            "inc-draft",
            "Draft outage",
            Impact.MINOR,
            IncidentUpdate(IncidentStatus.INVESTIGATING, "not yet", seed.NOW),
            draft=True,
            pages=("main",),
        )
        await incident_store.insert_incident(session, draft, seed.NOW)
        await session.commit()
    return Clock(seed.NOW)


async def _app(db: TestDatabase) -> FastAPI:
    clock = await _world(db)
    settings = Settings(_env_file=None, database_url=db.url)
    return export.build_app(settings, db.sessions, LiveConfig(_config()), clock=clock)


def _tree(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


# --- the copy --------------------------------------------------------------------------------


async def test_it_writes_every_route_of_the_page(db: TestDatabase, tmp_path: Path) -> None:
    app = await _app(db)
    out = tmp_path / "site"
    count = await export.export_page(app, "main", out)
    tree = _tree(out)
    assert count == len(tree)
    for name in (
        "index.html",
        "rt/7d/index.html",
        "rt/30d/index.html",
        "history/index.html",
        "history/2026-02/index.html",
        "history/2026-03/index.html",
        "incidents/inc-open/index.html",
        "incidents/inc-old/index.html",
        "heatmap/index.html",
        "api/status.json",
        "api/v2/summary.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "history.atom",
        "history.rss",
        "badges/api/status.svg",
        "badges/api/uptime/30d.svg",
        "badges/db/shields.json",
    ):
        assert name in tree, name
    assert "incidents/inc-draft/index.html" not in tree
    assert not any(n.startswith("history/2026-04") for n in tree)  # nothing after now
    assert any(re.fullmatch(r"static/\w+/status\.css", n) for n in tree)
    assert any(re.fullmatch(r"static/\w+/status\.js", n) for n in tree)
    assert not [n for n in tree if n.startswith(".")]  # no build left behind

    summary = json.loads(tree["api/v2/summary.json"])
    assert summary["status"]["indicator"] != ""
    assert [i["id"] for i in summary["incidents"]] == ["inc-open"]
    unresolved = json.loads(tree["api/v2/incidents/unresolved.json"])
    assert [i["name"] for i in unresolved["incidents"]] == ["Elevated API error rates"]
    assert json.loads(tree["api/status.json"])["page"]["slug"] == "main"
    assert json.loads(tree["badges/db/shields.json"])["message"] == "up"
    assert b"Elevated API error rates" in tree["history.atom"]
    assert b"Database failover" in tree["history/2026-02/index.html"]
    assert b"Elevated API error rates" in tree["incidents/inc-open/index.html"]


async def test_it_copies_json_feeds_and_badges_byte_for_byte(
    db: TestDatabase, tmp_path: Path
) -> None:
    import httpx

    app = await _app(db)
    out = tmp_path / "site"
    await export.export_page(app, "main", out)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://upstate.test") as live:
        for route, name in (
            ("/s/main/api/v2/summary.json", "api/v2/summary.json"),
            ("/api/v1/pages/main/status", "api/status.json"),
            ("/s/main/history.rss", "history.rss"),
            ("/badge/web/uptime/7d.svg", "badges/web/uptime/7d.svg"),
        ):
            assert (out / name).read_bytes() == (await live.get(route)).content, route


async def test_every_link_works_inside_the_copy(db: TestDatabase, tmp_path: Path) -> None:
    app = await _app(db)
    out = tmp_path / "site"
    await export.export_page(app, "main", out)
    documents = [p for p in out.rglob("*.html")]
    assert len(documents) >= 9
    followed = 0
    for document in documents:
        page = document.read_text()
        here = document.relative_to(out).as_posix()
        for raw in LINK.findall(page):
            link = html.unescape(raw)
            assert not link.startswith("/"), f"{here}: absolute link {link}"
            if link.startswith(("#", "data:", "http:", "https:")):
                continue
            path = link.split("#")[0]
            assert "?" not in path, f"{here}: query link {link}"
            target = posixpath.normpath(posixpath.join(posixpath.dirname(here), path))
            assert (out / target).is_file(), f"{here}: {link} -> {target} missing"
            followed += 1
        assert "data-events" not in page
        assert "<form" not in page
    assert followed > 50
    index = (out / "index.html").read_text()
    assert SUBSCRIBE_NOTE in index
    assert 'href="history/index.html"' in index
    assert 'href="incidents/inc-old/index.html"' in index
    assert 'href="rt/7d/index.html#h-rt"' in index
    history = (out / "history/2026-03/index.html").read_text()
    assert 'href="../2026-02/index.html"' in history
    assert 'href="../../index.html"' in history


async def test_no_secret_draft_or_private_page_reaches_the_copy(
    db: TestDatabase, tmp_path: Path
) -> None:
    app = await _app(db)
    out = tmp_path / "site"
    await export.export_page(app, "main", out)
    tree = _tree(out)
    assert "badges/canary/status.svg" in tree  # the canary's monitor is on the page
    for name, body in tree.items():
        for word in FORBIDDEN:
            assert word.encode() not in body, f"{word!r} in {name}"


async def test_it_refuses_a_private_page_and_writes_nothing(
    db: TestDatabase, tmp_path: Path
) -> None:
    app = await _app(db)
    out = tmp_path / "site"
    with pytest.raises(UsageError, match="private"):
        await export.export_page(app, "team", out)
    with pytest.raises(UsageError, match="no status page 'nope'"):
        await export.export_page(app, "nope", out)
    assert not out.exists()


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_a_failed_render_keeps_the_previous_copy(db: TestDatabase, tmp_path: Path) -> None:
    app = await _app(db)
    out = tmp_path / "site"
    await export.export_page(app, "main", out)
    before = _tree(out)
    async with db.engine.begin() as connection:  # the page's view cannot be built any more
        await connection.execute(text("DROP TABLE status_changes"))
    settings = Settings(_env_file=None, database_url=db.url)
    fresh = export.build_app(settings, db.sessions, LiveConfig(_config()), clock=Clock(seed.NOW))
    with pytest.raises(ExportError, match=r"answered 5\d\d"):  # a new app: no cached render
        await export.export_page(fresh, "main", out)
    assert _tree(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


async def test_the_loop_logs_a_failed_round_and_goes_on(
    db: TestDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = await _app(db)
    live: LiveConfig = app.state.upstate.live
    out = tmp_path / "site"
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="upstate.cli.export")
    loop = asyncio.create_task(export.export_every(app, "main", out, 0.05, stop))

    async def until(condition: object) -> None:
        for _ in range(200):
            if callable(condition) and condition():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("never happened")

    await until(lambda: (out / "index.html").exists())
    live.swap(UpstateConfig(status_pages=seed.pages()[1:]))  # the page is gone: rounds fail
    await until(lambda: "static copy not written" in caplog.text)
    assert (out / "index.html").exists()  # the previous copy stays
    live.swap(_config())
    written = sum("static copy written" in r.message for r in caplog.records)
    await until(lambda: sum("static copy written" in r.message for r in caplog.records) > written)
    stop.set()
    assert await asyncio.wait_for(loop, 5) >= 2


# --- the command -----------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    export.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["export-static", *argv])


@pytest.mark.parametrize("db_kind", ["sqlite"])
def test_the_command_exports_once(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "upstate.yaml"
    config.write_text(
        "monitors:\n"
        f'  - {{key: web, kind: http, url: "http://127.0.0.1:9/?t={CANARY}"}}\n'
        "status_pages:\n"
        "  - {slug: main, title: Main, components: [{name: Website, monitors: [web]}]}\n"
        "  - {slug: team, title: Team, access: password, password: pw,\n"
        "     components: [{name: Website, monitors: [web]}]}\n"
    )
    out = tmp_path / "site"
    settings = Settings(_env_file=None, database_url=database_url, config=str(config))
    assert export.run(_args("--page", "main", "--out", str(out)), settings) == 0
    assert "static copy of main written" in capsys.readouterr().out
    assert (out / "index.html").is_file()
    assert (out / "badges/web/status.svg").is_file()  # "unknown": serve has not run yet
    assert not (out / "badges/web/uptime").exists()  # 404 live too: left out, not an error
    with pytest.raises(UsageError, match="private"):
        export.run(_args("--page", "team", "--out", str(tmp_path / "team")), settings)
    assert not (tmp_path / "team").exists()
    with pytest.raises(UsageError, match="--every"):
        export.run(_args("--page", "main", "--out", str(out), "--every", "soon"), settings)
    no_config = Settings(_env_file=None, database_url=database_url)
    with pytest.raises(UsageError, match="--config"):
        export.run(_args("--page", "main", "--out", str(out)), no_config)


# --- the rewrite and the swap, on their own ---------------------------------------------------


def _resolve(target: str) -> str | None:
    return {
        "/s/main": "index.html",
        "/s/main/history": "history/index.html",
        "/s/main/history?month=2026-02": "history/2026-02/index.html",
        "/s/main/incidents/a&b": "incidents/ab/index.html",
        "/static/abc123/status.js": "static/abc123/status.js",
    }.get(target)


def test_the_rewrite_touches_only_href_and_src() -> None:
    page = (
        '<a href="/s/main/history" title="see href=/s/main">H</a>'
        "<a href='/s/main'>home</a>"
        "<a href=/s/main/history>bare</a>"
        '<a href="?month=2026-02#top">prev</a>'
        '<a href="/s/main/incidents/a&amp;b">amp</a>'
        '<a href="/elsewhere">gone</a><a href="https://example.com/s/main">ext</a>'
        '<a href="#main">skip</a><img src="data:image/png;base64,xx" alt="">'
        '<script>var u = "<a href=\\"/s/main\\">";</script>'
        '<!-- <a href="/s/main"> -->'
        '<script src="/static/abc123/status.js" data-events="/s/main/events" defer></script>'
    )
    linked: set[str] = set()
    doc = Document("/s/main/history?month=2026-03", "history/2026-03/index.html")
    out = rewrite_html(page, doc, _resolve, linked)
    assert '<a href="../index.html" title="see href=/s/main">H</a>' in out
    assert '<a href="../../index.html">home</a>' in out
    assert '<a href="../index.html">bare</a>' in out
    assert '<a href="../2026-02/index.html#top">prev</a>' in out
    assert '<a href="../../incidents/ab/index.html">amp</a>' in out
    assert "<a>gone</a>" in out
    assert '<a href="https://example.com/s/main">ext</a>' in out
    assert '<a href="#main">skip</a>' in out
    assert 'src="data:image/png;base64,xx"' in out
    assert '<script>var u = "<a href=\\"/s/main\\">";</script>' in out
    assert '<!-- <a href="/s/main"> -->' in out
    assert '<script src="../../static/abc123/status.js" defer></script>' in out
    assert "/s/main/history" in linked
    assert "/static/abc123/status.js" in linked


def test_the_rewrite_replaces_forms_with_a_note() -> None:
    page = (
        '<h2>Get notified</h2><form method="post" action="/s/main/subscribe">'
        '<input name="email"><a href="/s/main">x</a><button>Go</button></form><p>after</p>'
        '<form action="/other"><input></form>'
    )
    out = rewrite_html(page, Document("/s/main", "index.html"), _resolve, set())
    assert out == (
        f'<h2>Get notified</h2><p class="meta">{SUBSCRIBE_NOTE}</p><p>after</p>'
        f'<p class="meta">{FORM_NOTE}</p>'
    )


@pytest.mark.parametrize("exchange", [True, False])
def test_the_swap_replaces_the_copy_and_nothing_else(tmp_path: Path, exchange: bool) -> None:
    out = tmp_path / "site"
    write_copy(out, {"index.html": b"one", "rt/7d/index.html": b"rt", "api/v2/a.json": b"1"})
    (out / "CNAME").write_text("status.example.com")
    inode = out.stat().st_ino
    write_copy(out, {"index.html": b"two", "api/v2/b.json": b"2"}, exchange=exchange)
    assert _tree(out) == {
        "CNAME": b"status.example.com",
        "api/v2/b.json": b"2",
        "index.html": b"two",
    }
    assert out.stat().st_ino == inode  # a bind mount of DIR sees the new copy


def test_a_failed_write_keeps_the_previous_copy(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_copy(out, {"index.html": b"one", "api/status.json": b"{}"})
    with pytest.raises(ExportError, match="cannot write"):
        # `api` as a file and as a directory: the build fails half way
        write_copy(out, {"index.html": b"two", "api": b"x", "api/v2/a.json": b"y"})
    assert _tree(out) == {"index.html": b"one", "api/status.json": b"{}"}
    with pytest.raises(ExportError, match="refusing"):
        write_copy(out, {"../escape.html": b"x"})
    assert not (tmp_path / "escape.html").exists()
