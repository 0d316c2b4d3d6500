"""The status page HTML routes, through the ASGI app on a real database (tests/browser/seed)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.browser import seed
from tests.fixtures.db import TestDatabase
from tests.web.conftest import Clock
from upstate.config.pages import StatusPage
from upstate.web.public import pages
from upstate.web.public.pages import accent_of, contrast, resolve_language


@pytest.fixture
def db_kind() -> str:
    """SQLite only: the read model's own tests cover PostgreSQL."""
    return "sqlite"


@pytest.fixture
async def world(db: TestDatabase, app: FastAPI, clock: Clock) -> FastAPI:
    clock.now = seed.NOW
    async with db.sessions() as session:
        await seed.seed(session)
        await session.commit()
    app.state.upstate.live.swap(seed.config())
    return app


@pytest.fixture
def web(world: FastAPI, make_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return make_client(world)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_it_renders_the_page_readable_without_javascript(web: httpx.AsyncClient) -> None:
    answer = await web.get("/s/main")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    words = text_of(html)
    assert '<html lang="en" data-theme="auto">' in html
    assert '<main id="main"' in html
    assert "<header" in html
    assert "<footer" in html
    assert 'href="#main"' in html  # skip link
    assert "Major outage" in words  # a partial outage of the critical API
    for name in ("Website", "API", "Database", "Search", "CDN", "Email delivery", "Support desk"):
        assert name in words
    assert "Elevated API error rates" in words
    assert "5xx errors" in html
    assert "Database upgrade to PostgreSQL 17" in words  # upcoming maintenance
    assert html.count('class="bars"') == 7
    assert html.count("<i") - html.count("<img") >= 7 * 90
    assert "<i class=r title=" in html
    assert "<i class=a title=" in html
    assert '<svg class="chart"' in html
    assert "<polyline" in html
    assert 'action="/s/main/subscribe"' in html
    assert 'name="email"' in html
    assert 'name="components" value="main.api"' in html
    assert "internal.example" not in html  # monitors' URLs never shown


async def test_it_answers_304_for_a_known_etag(web: httpx.AsyncClient) -> None:
    first = await web.get("/s/main")
    again = await web.get("/s/main", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert first.headers["vary"] == "Accept-Language"


async def test_it_switches_the_response_time_window(web: httpx.AsyncClient) -> None:
    html = (await web.get("/s/main?rt=7d")).text
    assert 'href="?rt=7d#h-rt" aria-current="page"' in html


async def test_it_pages_the_history_by_month(web: httpx.AsyncClient) -> None:
    march = await web.get("/s/main/history")
    assert march.status_code == 200
    assert "Elevated API error rates" in march.text
    assert "Database failover" not in march.text  # it started in February
    assert 'href="?month=2026-02"' in march.text
    assert "?month=2026-04" not in march.text
    february = await web.get("/s/main/history?month=2026-02")
    assert "Database failover" in february.text
    assert 'href="?month=2026-03"' in february.text
    assert (await web.get("/s/main/history?month=March")).status_code == 400


async def test_it_shows_one_incident_with_its_timeline(web: httpx.AsyncClient) -> None:
    answer = await web.get("/s/main/incidents/inc-open")
    assert answer.status_code == 200
    words = text_of(answer.text)
    assert "Elevated API error rates" in words
    assert "Rolling back now" in words
    assert words.index("Rolling back") < words.index("5xx errors")  # newest first
    assert "Affected: API" in words
    assert (await web.get("/s/main/incidents/nope")).status_code == 404


async def test_it_draws_the_heatmap(web: httpx.AsyncClient) -> None:
    html = (await web.get("/s/main/heatmap")).text
    assert html.count('<th scope="row">') == 7
    assert html.count("<td class=") == 7 * 30
    assert "Database" in html
    assert 'title="22 Feb 2026 · ' in html


async def test_it_routes_a_custom_domain_by_host(web: httpx.AsyncClient) -> None:
    answer = await web.get("/", headers={"Host": seed.DOMAIN})
    assert answer.status_code == 200
    assert "Docs status" in answer.text
    assert '<html lang="fr" data-theme="dark">' in answer.text  # the page's own language
    assert 'href="/history"' in answer.text
    assert 'action="/s/docs/subscribe"' in answer.text
    assert (await web.get("/history", headers={"Host": seed.DOMAIN})).status_code == 200
    assert (await web.get("/", headers={"Host": "other.example.com"})).status_code == 404
    assert (await web.get("/s/nope")).status_code == 404


async def test_it_speaks_french_to_a_french_browser(web: httpx.AsyncClient) -> None:
    answer = await web.get("/s/main", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr"' in answer.text
    assert "Panne majeure" in answer.text
    assert "Incidents en cours" in answer.text
    english = await web.get("/s/main", headers={"Accept-Language": "de, en;q=0.5"})
    assert '<html lang="en"' in english.text


def test_it_resolves_the_language() -> None:
    page = StatusPage.model_validate({"slug": "p", "title": "P"})
    assert resolve_language(page, None) == "en"
    assert resolve_language(page, "fr-CA;q=0.8, en;q=0.9") == "en"
    assert resolve_language(page, "de, fr;q=0.1") == "fr"
    assert resolve_language(page, "fr;q=0") == "en"
    fixed = StatusPage.model_validate({"slug": "p", "title": "P", "language": "fr"})
    assert resolve_language(fixed, "en") == "fr"


def test_it_keeps_the_accent_readable() -> None:
    yellow = accent_of("#fde047")
    assert contrast(yellow.light, "#ffffff") >= 4.5
    assert contrast(yellow.dark, "#161b22") >= 4.5
    assert accent_of("#1d4ed8").light == "#1d4ed8"  # already fine: unchanged


async def test_it_asks_for_the_password_of_a_private_page(web: httpx.AsyncClient) -> None:
    closed = await web.get("/s/team/history")
    assert closed.status_code == 303
    assert closed.headers["location"] == "/s/team/login?next=/s/team/history"
    assert (await web.get("/s/team/events")).status_code == 401
    form = await web.get(closed.headers["location"])
    assert form.status_code == 200
    assert 'type="password"' in form.text
    wrong = await web.post("/s/team/login", data={"secret": "guess", "next": "/s/team"})
    assert wrong.status_code == 401
    assert "not the right password" in wrong.text
    assert not web.cookies
    right = await web.post(
        "/s/team/login", data={"secret": seed.PASSWORD, "next": "/s/team/history"}
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/s/team/history"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/s/team" in cookie
    assert seed.PASSWORD not in cookie
    assert "correct" not in cookie
    page = await web.get("/s/team")
    assert page.status_code == 200
    assert "Build farm" in page.text
    assert page.headers["cache-control"].startswith("private")


async def test_it_refuses_a_redirect_elsewhere_after_sign_in(web: httpx.AsyncClient) -> None:
    answer = await web.post(
        "/s/team/login", data={"secret": seed.PASSWORD, "next": "//evil.example/"}
    )
    assert answer.headers["location"] == "/s/team"


async def test_it_opens_a_signed_in_page_to_the_api_token(
    db: TestDatabase,
    make_app: Callable[..., FastAPI],
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    app = make_app(api_token="tok-1234567890abcdef")
    private = StatusPage.model_validate(
        {"slug": "ops", "title": "Ops", "access": "signed_in", "components": [{"name": "X"}]}
    )
    app.state.upstate.live.swap(seed.config((private,)))
    client = make_client(app)
    assert (await client.get("/s/ops")).status_code == 303
    bearer = {"Authorization": "Bearer tok-1234567890abcdef"}
    assert (await client.get("/s/ops", headers=bearer)).status_code == 200
    signed = await client.post("/s/ops/login", data={"secret": "tok-1234567890abcdef"})
    assert signed.status_code == 303
    assert (await client.get("/s/ops")).status_code == 200


async def test_it_serves_static_files_with_a_version_in_the_url(web: httpx.AsyncClient) -> None:
    html = (await web.get("/s/main")).text
    css = re.search(r'href="(/static/[0-9a-f]{10}/status\.css)"', html)
    js = re.search(r'src="(/static/[0-9a-f]{10}/status\.js)"', html)
    assert css
    assert js
    answer = await web.get(css.group(1))
    assert answer.status_code == 200
    assert "immutable" in answer.headers["cache-control"]
    assert answer.headers["content-type"].startswith("text/css")
    script = await web.get(js.group(1))
    assert len(script.content) < 15_000
    assert (await web.get("/static/0/status.css")).headers["cache-control"] == "no-cache"
    assert (await web.get("/static/0/../app.py")).status_code == 404


async def test_it_weighs_under_60_kb_with_20_components(
    world: FastAPI, web: httpx.AsyncClient, clock: Clock
) -> None:
    big = StatusPage.model_validate(
        {
            "slug": "big",
            "title": "Twenty components",
            "groups": [
                {
                    "name": f"Group {g}",
                    "components": [
                        {
                            "name": f"Service {g}-{i}",
                            "monitors": [["api", "db", "search", "cdn"][i]],
                        }
                        for i in range(4)
                    ],
                }
                for g in range(5)
            ],
        }
    )
    world.state.upstate.live.swap(seed.config((big,)))
    clock.advance(timedelta(days=1).total_seconds())
    answer = await web.get("/s/big")
    assert answer.status_code == 200
    assert answer.text.count('class="bars"') == 20
    weight = len(answer.content)
    print(f"page weight for 20 components x 90 bars: {weight} bytes")
    assert weight < 60 * 1024


def test_it_ships_compiled_catalogs_that_match_their_sources() -> None:
    pofile = pytest.importorskip("babel.messages.pofile")
    from babel.messages.mofile import read_mo

    locale = Path(pages.__file__).resolve().parent.parent / "locale"

    def read(path: Path, reader: Any, **options: str) -> Any:
        with path.open("rb") as file:
            return reader(file, **options)

    wanted = {m.id for m in read(locale / "messages.pot", pofile.read_po) if m.id}
    for lang in ("en", "fr"):
        folder = locale / lang / "LC_MESSAGES"
        source = read(folder / "messages.po", pofile.read_po, locale=lang)
        compiled = read(folder / "messages.mo", read_mo)
        translated = {m.id: m.string for m in source if m.id and m.string}
        shipped = {m.id: m.string for m in compiled if m.id and m.string}
        assert shipped == translated, f"{lang}: run pybabel compile -d {locale}"
        assert {m.id for m in source if m.id} == wanted, f"{lang}: run pybabel update"
        if lang == "fr":
            assert set(translated) == wanted  # every message has its French
