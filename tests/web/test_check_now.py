from __future__ import annotations

import httpx

from tests.targets.http import HttpTarget


async def test_it_checks_a_monitor_now_and_answers_the_observation(
    client: httpx.AsyncClient, http_target: HttpTarget
) -> None:
    body = {
        "key": "api",
        "kind": "http",
        "url": http_target.url("/json"),
        "conditions": ["[STATUS] == 200", "[BODY].status == ok"],
        "degraded_when": ["[BODY].build == 1.2.3"],
    }
    assert (await client.post("/api/v1/monitors", json=body)).status_code == 201
    answer = await client.post("/api/v1/monitors/api/check")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["key"] == "api"
    assert result["status"] == "degraded"
    assert result["status_code"] == 200
    assert result["error"] is None
    assert [c["ok"] for c in result["conditions"]] == [True, True]
    assert result["phases"]["connect_ms"] is not None


async def test_it_reports_a_refused_connection_as_down(client: httpx.AsyncClient) -> None:
    body = {"key": "tcp", "kind": "tcp", "host": "127.0.0.1", "port": 1}
    assert (await client.post("/api/v1/monitors", json=body)).status_code == 201
    result = (await client.post("/api/v1/monitors/tcp/check")).json()
    assert result["status"] == "down"
    assert result["error"]["kind"] == "connection_refused"


async def test_it_refuses_to_check_a_kind_that_is_not_probed(client: httpx.AsyncClient) -> None:
    body = {"key": "job", "kind": "push", "period": "1h", "grace": "1m"}
    assert (await client.post("/api/v1/monitors", json=body)).status_code == 201
    answer = await client.post("/api/v1/monitors/job/check")
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "bad_request",
        "message": "push monitors are not probed, so they have no check",
    }
