from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import NOW, LoopbackEngine
from upstate.services.engine import PingKind

PUSH = {"key": "job", "kind": "push", "period": "1h", "grace": "5m"}


@pytest.fixture
async def token(client: httpx.AsyncClient) -> str:
    created = await client.post("/api/v1/monitors", json=PUSH)
    assert created.status_code == 201, created.text
    url: str = created.json()["ping_url"]
    return url.rsplit("/", 1)[1]


async def test_it_takes_every_kind_of_ping_by_get_post_and_head(
    client: httpx.AsyncClient, token: str, loop_engine: LoopbackEngine
) -> None:
    calls = [
        ("GET", "", PingKind.SUCCESS, None),
        ("POST", "/start", PingKind.START, None),
        ("HEAD", "/fail", PingKind.FAIL, None),
        ("GET", "/0", PingKind.EXIT, 0),
        ("POST", "/255", PingKind.EXIT, 255),
    ]
    for method, suffix, _, _ in calls:
        answer = await client.request(method, f"/ping/{token}{suffix}")
        assert answer.status_code == 200, (method, suffix)
        assert answer.headers["content-type"].startswith("text/plain")
        if method != "HEAD":
            assert answer.text == "OK\n"
    assert [(key, s.kind, s.exit_status) for key, s in loop_engine.pings] == [
        ("job", kind, status) for _, _, kind, status in calls
    ]
    assert all(s.at == NOW and s.remote_addr == "127.0.0.1" for _, s in loop_engine.pings)


async def test_it_answers_404_for_unknown_tokens_and_suffixes(
    client: httpx.AsyncClient, token: str, loop_engine: LoopbackEngine
) -> None:
    for path in [
        "/ping/not-a-token",
        "/ping/not-a-token/start",
        f"/ping/{token}/256",
        f"/ping/{token}/-1",
        f"/ping/{token}/0001",
        f"/ping/{token}/stop",
    ]:
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert answer.text == "not found\n"
    assert loop_engine.pings == []


async def test_it_keeps_at_most_10_kb_of_the_body(
    client: httpx.AsyncClient, token: str, loop_engine: LoopbackEngine
) -> None:
    await client.post(f"/ping/{token}", content=b"backup done: 3 files")
    await client.post(f"/ping/{token}/fail", content=b"x" * 10_239 + "é".encode() + b"y" * 5000)
    await client.post(f"/ping/{token}/1", content=b"\xff\xfe broken utf-8")
    await client.post(f"/ping/{token}")
    bodies = [signal.body for _, signal in loop_engine.pings]
    assert bodies[0] == "backup done: 3 files"
    assert bodies[1] == "x" * 10_239  # the cut character is dropped, not mangled
    assert bodies[2] is not None
    assert bodies[2].endswith(" broken utf-8")
    assert bodies[3] is None


async def test_it_needs_no_token_for_pings(
    make_app: object, make_client: object, loop_engine: LoopbackEngine, token: str
) -> None:
    app = make_app(api_token="t" * 32, host="0.0.0.0")  # type: ignore[operator]
    guarded = make_client(app)  # type: ignore[operator]
    assert (await guarded.get(f"/ping/{token}")).status_code == 200
    assert len(loop_engine.pings) == 1
