from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.web.public.test_statuspage import CONFIG, app_factory
from upstate.web.public.badges import Badge, svg, uptime_badge

make_fixture = pytest.fixture(name="make")(app_factory)


def test_it_escapes_badge_text_into_valid_svg() -> None:
    drawn = svg(Badge('<a href="x">&', "ok & <b>", "#4c1"))
    root = ET.fromstring(drawn)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<b>" not in drawn
    assert "&amp;" in drawn


def test_it_colours_uptime_by_how_good_it_is() -> None:
    assert uptime_badge("24h", 100.0) == Badge("uptime 24h", "100%", "#4c1")
    assert uptime_badge("24h", 99.995).message == "99.99%"  # never rounded up to 100
    assert uptime_badge("7d", 90.0).colour == "#e05d44"
    assert uptime_badge("7d", None).message == "no data"


async def test_it_draws_status_uptime_and_response_time_badges(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make())
    status = await client.get("/badge/api/status.svg")
    assert status.status_code == 200
    assert status.headers["content-type"].startswith("image/svg+xml")
    assert ">down<" in status.text
    assert "#e05d44" in status.text
    ET.fromstring(status.text)  # noqa: S314 - our own output
    uptime = await client.get("/badge/web/uptime/30d.svg")
    assert uptime.status_code == 200
    assert "uptime 30d" in uptime.text
    latency = await client.get("/badge/web/response-time/24h.svg")
    assert latency.status_code == 200
    assert "no data" in latency.text
    assert latency.headers["cache-control"] == "public, max-age=50"


async def test_it_serves_the_shields_endpoint_json(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make())
    response = await client.get("/badge/web/shields.json")
    assert json.loads(response.text) == {
        "schemaVersion": 1,
        "label": "status",
        "message": "up",
        "color": "brightgreen",
    }


NO_BADGE = [
    "/badge/nope/status.svg",  # unknown
    "/badge/private-only/status.svg",  # only on a password page
    "/badge/private-only/shields.json",
    "/badge/orphan/uptime/24h.svg",  # on no page
    "/badge/web/uptime/1y.svg",  # unknown window
]


async def test_monitors_not_on_a_public_page_have_no_badge(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    text = CONFIG.replace(
        "monitors:\n  - {key: web",
        "monitors:\n  - {key: private-only, kind: http, url: 'http://127.0.0.1:9/p'}\n"
        "  - {key: orphan, kind: http, url: 'http://127.0.0.1:9/o'}\n  - {key: web",
    ).replace("monitors: [api]}]", "monitors: [private-only]}]")
    client = make_client(await make(text=text))
    unknown = await client.get("/badge/nope/status.svg")
    for path in NO_BADGE:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == unknown.json(), path
