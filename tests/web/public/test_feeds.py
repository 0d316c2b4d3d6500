from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.fixtures.db import TestDatabase
from tests.web.conftest import Clock
from tests.web.public.test_statuspage import add_incident, app_factory

make_fixture = pytest.fixture(name="make")(app_factory)

ATOM = "{http://www.w3.org/2005/Atom}"


async def test_it_publishes_incident_history_as_atom(
    make: Callable[..., Any],
    make_client: Callable[..., httpx.AsyncClient],
    db: TestDatabase,
    clock: Clock,
) -> None:
    app = await make()
    shown = await add_incident(db, clock)
    await add_incident(db, clock, draft=True)
    response = await make_client(app).get("/s/main/history.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)  # noqa: S314 - our own output
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 1
    entry = entries[0]
    assert entry.findtext(f"{ATOM}title") == "API slow"
    link = entry.find(f"{ATOM}link")
    assert link is not None
    assert link.get("href") == f"/s/main/incidents/{shown}"
    content = entry.findtext(f"{ATOM}content") or ""
    assert "<strong>API</strong>" in content
    assert "Identified" in content


async def test_it_publishes_incident_history_as_rss(
    make: Callable[..., Any],
    make_client: Callable[..., httpx.AsyncClient],
    db: TestDatabase,
    clock: Clock,
) -> None:
    app = await make()
    shown = await add_incident(db, clock)
    response = await make_client(app).get("/s/main/history.rss")
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 - our own output
    items = root.findall("channel/item")
    assert [i.findtext("link") for i in items] == [f"/s/main/incidents/{shown}"]
    assert "<strong>API</strong>" in (items[0].findtext("description") or "")
    assert items[0].findtext("pubDate", "").endswith("+0000")


async def test_private_pages_have_no_feeds(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make())
    assert (await client.get("/s/hidden/history.atom")).status_code == 404
    assert (await client.get("/s/hidden/history.rss")).status_code == 404
    assert (await client.get("/s/nope/history.rss")).status_code == 404
