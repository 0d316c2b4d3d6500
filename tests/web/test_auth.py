from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from upstate.errors import UsageError
from upstate.web.auth import check_exposure, is_loopback, token_matches
from upstate.web.logs import HidePingTokens

TOKEN = "s3cr3t-api-token-0123456789"
GUARDED = [
    ("GET", "/api/v1/monitors"),
    ("POST", "/api/v1/monitors"),
    ("GET", "/api/v1/monitors/api"),
    ("PATCH", "/api/v1/monitors/api"),
    ("DELETE", "/api/v1/monitors/api"),
    ("GET", "/api/v1/monitors/api/results"),
    ("GET", "/api/v1/monitors/api/uptime"),
    ("GET", "/api/v1/monitors/api/changes"),
    ("POST", "/api/v1/monitors/api/check"),
    ("GET", "/api/v1/status"),
]


@pytest.fixture
def guarded(
    make_app: Callable[..., FastAPI], make_client: Callable[..., httpx.AsyncClient]
) -> httpx.AsyncClient:
    return make_client(make_app(api_token=TOKEN, host="0.0.0.0"))


async def test_it_is_open_on_loopback_without_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/monitors")).status_code == 200


async def test_it_needs_the_bearer_token_on_every_api_route(guarded: httpx.AsyncClient) -> None:
    for method, path in GUARDED:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = await guarded.request(method, path, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json()["error"]["code"] == "unauthorized"
            assert TOKEN not in answer.text
    allowed = await guarded.get("/api/v1/monitors", headers={"Authorization": f"bearer {TOKEN}"})
    assert allowed.status_code == 200


async def test_it_leaves_health_docs_and_metrics_public(guarded: httpx.AsyncClient) -> None:
    for path in ["/healthz", "/readyz", "/metrics", "/api/docs", "/api/openapi.json"]:
        assert (await guarded.get(path)).status_code == 200, path


async def test_it_guards_metrics_when_asked(
    make_app: Callable[..., FastAPI], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(make_app(api_token=TOKEN, metrics_public=False))
    assert (await client.get("/metrics")).status_code == 401
    ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_it_refuses_to_serve_beyond_loopback_without_a_token(
    make_app: Callable[..., FastAPI],
) -> None:
    with pytest.raises(UsageError, match="UPSTATE_API_TOKEN"):
        make_app(host="0.0.0.0")
    for host in ("127.0.0.1", "::1", "[::1]", "localhost", "127.8.8.8"):
        assert is_loopback(host)
        check_exposure(host, token_set=False)
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        assert not is_loopback(host)
        check_exposure(host, token_set=True)


def test_it_compares_tokens_exactly() -> None:
    assert token_matches(f"Bearer {TOKEN}", TOKEN)
    assert not token_matches(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not token_matches(f"Basic {TOKEN}", TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches("Bearer ", TOKEN)


def test_it_hides_ping_tokens_in_access_logs() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/ping/abcdefSECRET/start?x=1", "1.1", 200),
        None,
    )
    assert HidePingTokens().filter(record)
    assert "SECRET" not in record.getMessage()
    assert "/ping/…/start?x=1" in record.getMessage()
