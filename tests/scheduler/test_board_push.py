"""The board heartbeat: a real local receiver gets the snapshot with the shared secret;
a failing or absent receiver never raises; no secret means skipped, warned once."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.targets.http import Response
from tests.targets.receivers import Inbox
from upstate.config.models import Board, UpstateConfig
from upstate.scheduler.board_push import SECRET_HEADER, BoardPush, PushOutcome
from upstate.services.live import LiveConfig

SECRET = "board-shared-secret-canary"
SNAPSHOT = {"generatedAt": "2026-03-14T12:00:00Z", "overall": "operational", "components": []}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


async def snapshot() -> dict[str, Any]:
    return dict(SNAPSHOT)


def live(**board: Any) -> LiveConfig:
    return LiveConfig(UpstateConfig(board=Board(**board)))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_it_pushes_the_snapshot_with_the_secret_header(
    webhook_receiver: Callable[..., Inbox], http: httpx.AsyncClient
) -> None:
    inbox = webhook_receiver()
    push = BoardPush(snapshot, live(ingest_url=inbox.url, ingest_secret=SECRET), http)
    assert await push.run_once() is PushOutcome.SENT
    (request,) = inbox.requests
    assert request.method == "POST"
    assert request.header(SECRET_HEADER) == SECRET
    assert request.header("Content-Type") == "application/json"
    assert inbox.bodies() == [SNAPSHOT]
    assert push.sent == 1


@pytest.mark.parametrize("failure", ["refused", "error status", "snapshot raises", "slow"])
async def test_it_never_raises_when_the_push_fails(
    failure: str,
    webhook_receiver: Callable[..., Inbox],
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = webhook_receiver(Response(500, b"boom")).url
    source = snapshot

    async def broken() -> dict[str, Any]:
        raise RuntimeError("database gone")

    async def slow() -> dict[str, Any]:
        await asyncio.sleep(5)
        return dict(SNAPSHOT)

    if failure == "refused":
        url = f"http://127.0.0.1:{closed_port()}/ingest"
    elif failure == "snapshot raises":
        source = broken
    elif failure == "slow":
        source = slow
    push = BoardPush(source, live(ingest_url=url, ingest_secret=SECRET), http, timeout=0.3)
    with caplog.at_level(logging.WARNING, logger="upstate.scheduler.board_push"):
        assert await push.run_once() is PushOutcome.FAILED
    assert push.failed == 1
    assert "board push" in caplog.text
    assert SECRET not in caplog.text


async def test_it_skips_without_a_secret_and_warns_once(
    webhook_receiver: Callable[..., Inbox],
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = webhook_receiver()
    push = BoardPush(snapshot, live(ingest_url=inbox.url), http)
    with caplog.at_level(logging.WARNING, logger="upstate.scheduler.board_push"):
        outcomes = [await push.run_once() for _ in range(3)]
    assert outcomes == [PushOutcome.SKIPPED] * 3
    assert len([r for r in caplog.records if "ingest_secret" in r.getMessage()]) == 1
    assert inbox.requests == []


async def test_it_does_nothing_without_an_ingest_url(http: httpx.AsyncClient) -> None:
    push = BoardPush(snapshot, live(ingest_secret=SECRET), http)
    assert await push.run_once() is PushOutcome.SKIPPED
    assert push.warned_no_secret is False


async def test_it_beats_every_heartbeat_until_stopped(
    webhook_receiver: Callable[..., Inbox], http: httpx.AsyncClient
) -> None:
    inbox = webhook_receiver()
    push = BoardPush(
        snapshot, live(ingest_url=inbox.url, ingest_secret=SECRET, heartbeat="50ms"), http
    )
    push.start()
    try:
        async with asyncio.timeout(5):
            while len(inbox.requests) < 3:
                await asyncio.sleep(0.02)
    finally:
        await push.stop()
    assert not push.alive
    assert push.sent >= 3
