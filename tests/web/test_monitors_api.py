from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.db import TestDatabase
from tests.web.conftest import BASE, NOW, LoopbackEngine
from upstate.config.loader import load_config_text
from upstate.services.monitors import sync_config
from upstate.services.secrets import SecretBox
from upstate.store import monitors as monitor_store
from upstate.store.monitors import MonitorSource

HTTP = {"key": "api", "kind": "http", "url": "http://127.0.0.1:9/health", "interval": "30s"}
FILE = """
monitors:
  - {key: web, kind: http, url: "http://127.0.0.1:9/", critical: true}
"""


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/monitors", json=body)


async def sync(db: TestDatabase, box: SecretBox, text: str = FILE) -> None:
    async with db.sessions() as session:
        await sync_config(session, load_config_text(text), secrets=box, now=NOW)
        await session.commit()


async def test_it_creates_reads_and_lists_a_monitor(
    client: httpx.AsyncClient, loop_engine: LoopbackEngine
) -> None:
    created = await create(client, {**HTTP, "tags": ["prod"], "critical": True})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"] == "api"
    assert body["kind"] == "http"
    assert body["source"] == "api"
    assert body["status"] == "unknown"
    assert body["since"] is None
    assert body["interval_s"] == 30.0
    assert body["regions"] == ["local"]
    assert body["tags"] == ["prod"]
    assert body["critical"] is True
    assert body["ping_url"] is None
    assert body["definition"]["interval"] == "30s"
    assert loop_engine.reloads == 1
    read = await client.get("/api/v1/monitors/api")
    assert read.json() == body
    listed = await client.get("/api/v1/monitors")
    assert [m["key"] for m in listed.json()["items"]] == ["api"]


async def test_it_commits_what_it_answers(client: httpx.AsyncClient, db: TestDatabase) -> None:
    assert (await create(client, HTTP)).status_code == 201
    async with db.sessions() as session:
        stored = await monitor_store.get_by_key(session, "api")
    assert stored is not None
    assert stored.source is MonitorSource.API


async def test_it_answers_404_for_an_unknown_monitor(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/monitors/nope"),
        ("PATCH", "/api/v1/monitors/nope"),
        ("DELETE", "/api/v1/monitors/nope"),
        ("GET", "/api/v1/monitors/nope/results"),
        ("GET", "/api/v1/monitors/nope/uptime"),
        ("GET", "/api/v1/monitors/nope/changes"),
        ("POST", "/api/v1/monitors/nope/check"),
    ]:
        answer = await client.request(method, path, json={} if method == "PATCH" else None)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"


async def test_it_refuses_a_duplicate_key(client: httpx.AsyncClient) -> None:
    assert (await create(client, HTTP)).status_code == 201
    again = await create(client, HTTP)
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "a monitor with the key 'api' exists already"


async def test_it_refuses_every_write_to_a_config_monitor(
    client: httpx.AsyncClient, db: TestDatabase, box: SecretBox, loop_engine: LoopbackEngine
) -> None:
    await sync(db, box)
    message = "monitor 'web' is defined in upstate.yaml; edit the file instead"
    answers = [
        await client.patch("/api/v1/monitors/web", json={"interval": "5m"}),
        await client.delete("/api/v1/monitors/web"),
        await create(client, {**HTTP, "key": "web"}),
    ]
    for answer in answers:
        assert answer.status_code == 409
        assert answer.json() == {"error": {"code": "conflict", "message": message}}
    shown = (await client.get("/api/v1/monitors/web")).json()
    assert shown["source"] == "config"
    assert shown["interval_s"] == 60.0
    assert loop_engine.reloads == 0


async def test_it_points_at_the_column_of_a_bad_condition(client: httpx.AsyncClient) -> None:
    body = {**HTTP, "conditions": ["[STATUS] == 200", "[STATUS] =! 200"]}
    answer = await create(client, body)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    assert error["issues"] == [
        {
            "field": "conditions[1]",
            "line": None,
            "column": 10,
            "message": "invalid condition: '=' is not an operator: write ==",
        }
    ]


async def test_it_says_what_is_wrong_like_the_file_loader(client: httpx.AsyncClient) -> None:
    answer = await create(
        client,
        {"key": "Bad Key", "kind": "http", "url": "ftp://x", "intervall": "1m", "timeout": 5},
    )
    assert answer.status_code == 422
    issues = {i["field"]: i["message"] for i in answer.json()["error"]["issues"]}
    assert "invalid key 'Bad Key'" in issues["key"]
    assert issues["url"] == "invalid URL: the scheme must be http or https (scheme is 'ftp')"
    assert issues["intervall"] == "unknown key; did you mean interval?"
    assert issues["timeout"] == "durations need a unit: write 5s or 5ms, not 5"
    unknown = await create(client, {"key": "x", "kind": "htp"})
    assert unknown.json()["error"]["issues"][0]["message"] == (
        "unknown monitor kind 'htp'; did you mean http?"
    )
    tcp = await create(client, {"key": "x", "kind": "tcp", "host": "h", "port": 1, "url": "x"})
    assert tcp.json()["error"]["issues"][0]["message"] == (
        "not a field of tcp monitors (it is a field of http, statuspage monitors)"
    )


async def test_it_checks_references_against_stored_monitors(client: httpx.AsyncClient) -> None:
    assert (await create(client, HTTP)).status_code == 201
    dangling = await create(
        client, {"key": "shop", "kind": "composite", "monitors": ["api", "apii"]}
    )
    assert dangling.status_code == 422
    assert dangling.json()["error"]["issues"] == [
        {
            "field": "monitors[1]",
            "line": None,
            "column": None,
            "message": "no monitor has the key apii; did you mean api?",
        }
    ]
    shop = {"key": "shop", "kind": "composite", "monitors": ["api"]}
    assert (await create(client, shop)).status_code == 201
    cycle = await client.patch("/api/v1/monitors/api", json={"depends_on": ["shop"]})
    assert cycle.status_code == 422
    assert cycle.json()["error"]["issues"][0] == {
        "field": "depends_on",
        "line": None,
        "column": None,
        "message": "circular dependency: api -> shop -> api",
    }
    in_use = await client.delete("/api/v1/monitors/api")
    assert in_use.status_code == 409
    assert "used by shop" in in_use.json()["error"]["message"]


async def test_it_merges_a_patch_and_keeps_what_it_does_not_name(
    client: httpx.AsyncClient, loop_engine: LoopbackEngine
) -> None:
    body = {**HTTP, "tags": ["a"], "headers": {"X-Key": "k-123456"}}
    assert (await create(client, body)).status_code == 201
    patched = await client.patch(
        "/api/v1/monitors/api", json={"interval": "2m", "tags": ["b"], "headers": {"X-Other": "o"}}
    )
    assert patched.status_code == 200, patched.text
    shown = patched.json()
    assert shown["interval_s"] == 120.0
    assert shown["tags"] == ["b"]
    assert shown["definition"]["headers"] == {"X-Key": "**********", "X-Other": "**********"}
    assert shown["definition"]["url"] == HTTP["url"]
    reset = await client.patch("/api/v1/monitors/api", json={"tags": None})
    assert reset.json()["tags"] == []
    assert loop_engine.reloads == 3


async def test_it_keeps_secrets_sent_back_masked(
    client: httpx.AsyncClient, loop_engine: LoopbackEngine
) -> None:
    body = {**HTTP, "auth": {"basic": {"username": "u", "password": "pw-1234567"}}}
    assert (await create(client, body)).status_code == 201
    shown = (await client.get("/api/v1/monitors/api")).json()["definition"]
    shown["name"] = "Renamed"
    assert (await client.patch("/api/v1/monitors/api", json=shown)).status_code == 200
    result = await loop_engine.check_now("api")
    assert result.definition.spec.basic_auth == ("u", "pw-1234567")  # type: ignore[union-attr]
    assert result.definition.name == "Renamed"


async def test_it_refuses_to_change_key_or_kind(client: httpx.AsyncClient) -> None:
    assert (await create(client, HTTP)).status_code == 201
    answer = await client.patch("/api/v1/monitors/api", json={"key": "b", "kind": "tcp"})
    assert answer.status_code == 422
    assert [i["field"] for i in answer.json()["error"]["issues"]] == ["key", "kind"]


async def test_it_deletes_an_api_monitor(
    client: httpx.AsyncClient, loop_engine: LoopbackEngine
) -> None:
    assert (await create(client, HTTP)).status_code == 201
    deleted = await client.delete("/api/v1/monitors/api")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get("/api/v1/monitors/api")).status_code == 404
    assert loop_engine.reloads == 2


async def test_it_gives_push_monitors_an_unguessable_ping_url(client: httpx.AsyncClient) -> None:
    first = await create(client, {"key": "job", "kind": "push", "period": "1h", "grace": "5m"})
    second = await create(client, {"key": "job2", "kind": "push", "period": "1h", "grace": "5m"})
    urls = [first.json()["ping_url"], second.json()["ping_url"]]
    for url in urls:
        assert url.startswith(f"{BASE}/ping/")
        assert len(url.rsplit("/", 1)[1]) >= 32
    assert urls[0] != urls[1]
    assert first.json()["interval_s"] == 3600.0
    assert first.json()["regions"] == []
    patched = await client.patch("/api/v1/monitors/job", json={"grace": "10m"})
    assert patched.json()["ping_url"] == urls[0]


async def test_it_builds_ping_urls_on_the_configured_base_url(
    make_app: Any, make_client: Any
) -> None:
    client = make_client(make_app(base_url="https://status.example.com/"))
    body = {"key": "job", "kind": "push", "schedule": "0 3 * * *", "grace": "5m"}
    shown = (await create(client, body)).json()
    assert shown["ping_url"].startswith("https://status.example.com/ping/")
    assert shown["interval_s"] is None


async def test_it_refuses_a_body_that_is_not_an_object(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/api/v1/monitors", content=b"[1]", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid"
    broken = await client.post(
        "/api/v1/monitors", content=b"{", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
