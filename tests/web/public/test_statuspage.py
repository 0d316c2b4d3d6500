"""The Statuspage-compatible JSON, Upstate's own page status, and the probe round trip.

`build_app` (used by the other public tests too) syncs a config into the test database,
sets monitor states, and returns create_app() serving that config."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from tests.fixtures.db import TestDatabase
from tests.targets.tcp import free_port
from tests.web.conftest import Clock, LoopbackEngine
from upstate.config import Settings
from upstate.config.loader import load_config_text
from upstate.domain.enums import ComponentStatus, Status
from upstate.domain.incidents import (
    AffectedComponent,
    Impact,
    IncidentStatus,
    IncidentUpdate,
    new_incident,
)
from upstate.domain.specs import StatuspageSpec
from upstate.probes import statuspage
from upstate.probes.base import ProbeContext
from upstate.services import maintenance, monitors
from upstate.services.live import LiveConfig
from upstate.services.secrets import SecretBox
from upstate.store import incidents as incident_store
from upstate.store import monitors as monitor_store
from upstate.store import states
from upstate.store.states import StateRecord
from upstate.web.app import create_app

CONFIG = """
monitors:
  - {key: web, kind: http, url: "http://127.0.0.1:9/web"}
  - {key: api, kind: http, url: "http://127.0.0.1:9/api", critical: true}
  - {key: api-eu, kind: http, url: "http://127.0.0.1:9/api-eu"}
maintenance:
  - title: Database upgrade
    description: Moving to a bigger disk.
    monitors: [web]
    start: 2026-03-20T10:00:00Z
    end: 2026-03-20T11:00:00Z
status_pages:
  - slug: main
    title: Main
    components: [{name: Website, monitors: [web]}]
    groups:
      - name: Backend
        components:
          - {name: API, monitors: [api, api-eu]}
          - {name: Support}
  - slug: hidden
    title: Hidden
    access: password
    password: page-pw-CANARY
    components: [{name: Secret thing, monitors: [api]}]
"""
UP, DOWN = Status.UP, Status.DOWN
ID = re.compile(r"[a-z0-9]+")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def build_app(
    db: TestDatabase,
    engine: LoopbackEngine,
    registry: CollectorRegistry,
    box: SecretBox,
    clock: Clock,
    *,
    text: str = CONFIG,
    env: Mapping[str, str] | None = None,
    statuses: Mapping[str, Status] | None = None,
    **settings: Any,
) -> FastAPI:
    config = load_config_text(text, "upstate.yaml", dict(env or {}))
    async with db.sessions() as session:
        await monitors.sync_config(session, config, secrets=box, now=clock.now)
        await maintenance.sync_config(session, config, clock.now)
        for key, status in (statuses or {}).items():
            record = await monitor_store.get_by_key(session, key)
            assert record is not None
            since = clock.now - timedelta(minutes=5)
            await states.put_state(
                session, StateRecord(record.id, status, since, clock.now, {}, clock.now)
            )
        await session.commit()
    return create_app(
        settings=Settings(_env_file=None, database_url=db.url, **settings),
        session_factory=db.sessions,
        engine=engine,
        registry=registry,
        secrets=box,
        clock=clock,
        live=LiveConfig(config=config),
    )


async def add_incident(db: TestDatabase, clock: Clock, *, draft: bool = False) -> str:
    first = IncidentUpdate(
        IncidentStatus.IDENTIFIED,
        "The **API** is slow.",
        clock.now - timedelta(minutes=30),
        (
            AffectedComponent(
                "main.support", "Support", ComponentStatus.OPERATIONAL, ComponentStatus.MAJOR_OUTAGE
            ),
        ),
    )
    incident_id = incident_store.new_id()
    incident = new_incident(
        incident_id,
        "API slow",
        Impact.MAJOR,
        first,
        draft=draft,
        pages=("main",),
        monitors=("api",),
    )
    async with db.sessions() as session:
        await incident_store.insert_incident(session, incident, clock.now)
        await session.commit()
    return incident_id


def app_factory(
    db: TestDatabase,
    loop_engine: LoopbackEngine,
    registry: CollectorRegistry,
    box: SecretBox,
    clock: Clock,
) -> Callable[..., Any]:
    async def make_app(**kwargs: Any) -> FastAPI:
        kwargs.setdefault("statuses", {"web": UP, "api": DOWN, "api-eu": UP})
        return await build_app(db, loop_engine, registry, box, clock, **kwargs)

    return make_app


# Other public tests share it: `make = pytest.fixture(name="make")(app_factory)`.
make_fixture = pytest.fixture(name="make")(app_factory)


async def test_it_serves_a_summary_in_the_statuspage_shape(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make())
    response = await client.get("/s/main/api/v2/summary.json")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"].startswith("public, max-age=")
    data = response.json()
    assert list(data) == ["page", "components", "incidents", "scheduled_maintenances", "status"]
    page = data["page"]
    assert set(page) == {"id", "name", "url", "time_zone", "updated_at"}
    assert ID.fullmatch(page["id"])
    assert page["name"] == "Main"
    assert page["url"] == "/s/main"
    assert STAMP.fullmatch(page["updated_at"])
    assert data["status"] == {"indicator": "major", "description": "Partial System Outage"}
    by_name = {c["name"]: c for c in data["components"]}
    assert list(by_name) == ["Website", "Backend", "API", "Support"]
    api, backend = by_name["API"], by_name["Backend"]
    assert set(api) == {
        "id", "name", "status", "created_at", "updated_at", "position", "description",
        "showcase", "start_date", "group_id", "page_id", "group", "only_show_if_degraded",
    }  # fmt: skip
    assert api["status"] == "partial_outage"
    assert api["group_id"] == backend["id"]
    assert backend["group"] is True
    assert backend["components"] == [
        api["id"],
        by_name["Support"]["id"],
    ]
    assert backend["status"] == "partial_outage"
    assert all(ID.fullmatch(c["id"]) for c in data["components"])
    assert len({c["id"] for c in data["components"]}) == 4
    assert by_name["Website"]["group_id"] is None
    assert by_name["Website"]["status"] == "operational"
    assert "web" not in response.text.replace("Website", "")  # no monitor key


ENDPOINT_KEYS = {
    "status.json": ["page", "status"],
    "components.json": ["page", "components"],
    "incidents.json": ["page", "incidents"],
    "incidents/unresolved.json": ["page", "incidents"],
    "scheduled-maintenances.json": ["page", "scheduled_maintenances"],
    "scheduled-maintenances/upcoming.json": ["page", "scheduled_maintenances"],
    "scheduled-maintenances/active.json": ["page", "scheduled_maintenances"],
}


async def test_every_endpoint_has_the_keys_of_the_spec(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make())
    for path, keys in ENDPOINT_KEYS.items():
        response = await client.get(f"/s/main/api/v2/{path}")
        assert response.status_code == 200, path
        assert list(response.json()) == keys, path


async def test_it_shows_published_incidents_with_their_updates(
    make: Callable[..., Any],
    make_client: Callable[..., httpx.AsyncClient],
    db: TestDatabase,
    clock: Clock,
) -> None:
    app = await make()
    incident_id = await add_incident(db, clock)
    await add_incident(db, clock, draft=True)
    client = make_client(app)
    unresolved = (await client.get("/s/main/api/v2/incidents/unresolved.json")).json()
    assert [i["id"] for i in unresolved["incidents"]] == [incident_id]
    incident = unresolved["incidents"][0]
    assert set(incident) == {
        "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
        "impact", "shortlink", "started_at", "page_id", "incident_updates", "components",
    }  # fmt: skip
    assert (incident["status"], incident["impact"]) == ("identified", "major")
    assert incident["shortlink"] == f"/s/main/incidents/{incident_id}"
    update = incident["incident_updates"][0]
    assert set(update) == {
        "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
        "affected_components", "deliver_notifications", "custom_tweet", "tweet_id",
    }  # fmt: skip
    components = (await client.get("/s/main/api/v2/components.json")).json()["components"]
    support = next(c for c in components if c["name"] == "Support")
    assert support["status"] == "major_outage"  # set by the open incident
    assert update["affected_components"] == [
        {"code": support["id"], "name": "Support", "old_status": "operational",
         "new_status": "major_outage"}
    ]  # fmt: skip
    assert [c["id"] for c in incident["components"]] == [support["id"]]
    every = (await client.get("/s/main/api/v2/incidents.json")).json()["incidents"]
    assert [i["id"] for i in every] == [incident_id]
    summary = (await client.get("/s/main/api/v2/summary.json")).json()
    assert [i["id"] for i in summary["incidents"]] == [incident_id]
    assert "monitors" not in summary["incidents"][0]


async def test_it_lists_scheduled_maintenance(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make())
    upcoming = (await client.get("/s/main/api/v2/scheduled-maintenances/upcoming.json")).json()
    [window] = upcoming["scheduled_maintenances"]
    assert window["name"] == "Database upgrade"
    assert window["status"] == "scheduled"
    assert window["impact"] == "maintenance"
    assert window["scheduled_for"] == "2026-03-20T10:00:00.000Z"
    assert window["scheduled_until"] == "2026-03-20T11:00:00.000Z"
    assert [c["name"] for c in window["components"]] == ["Website"]
    assert ID.fullmatch(window["id"])
    active = (await client.get("/s/main/api/v2/scheduled-maintenances/active.json")).json()
    assert active["scheduled_maintenances"] == []
    summary = (await client.get("/s/main/api/v2/summary.json")).json()
    assert [m["name"] for m in summary["scheduled_maintenances"]] == ["Database upgrade"]


async def test_private_and_unknown_pages_answer_the_same_404(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make())
    hidden = await client.get("/s/hidden/api/v2/summary.json")
    unknown = await client.get("/s/nope/api/v2/summary.json")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert (await client.get("/api/v1/pages/hidden/status")).status_code == 404


async def test_a_private_page_answers_the_api_token_privately(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    text = CONFIG.replace("access: password", "access: signed_in").replace(
        "    password: page-pw-CANARY\n", ""
    )
    client = make_client(await make(text=text, api_token="tok-123"))
    anonymous = await client.get("/s/hidden/api/v2/status.json")
    assert anonymous.status_code == 404
    response = await client.get(
        "/s/hidden/api/v2/status.json", headers={"Authorization": "Bearer tok-123"}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("private")
    wrong = await client.get(
        "/s/hidden/api/v2/status.json", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 404


async def test_upstates_own_page_status_is_public_and_cacheable_for_a_minute(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make(api_token="tok-123"))
    response = await client.get("/api/v1/pages/main/status")  # no token
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    data = response.json()
    assert data["status"] == "down"  # the critical API monitor is down: partial outage
    assert data["indicator"] == "major"
    assert [c["code"] for c in data["components"]] == ["main.website", "main.api", "main.support"]
    assert data["maintenance"]["upcoming"][0]["title"] == "Database upgrade"
    assert "api-eu" not in response.text
    assert (await client.get("/api/v1/monitors")).status_code == 401  # the API stays guarded


async def test_it_answers_on_a_pages_custom_domain(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    text = CONFIG.replace("    title: Main\n", "    title: Main\n    domain: status.example.com\n")
    client = make_client(await make(text=text))
    response = await client.get("/api/v2/status.json", headers={"Host": "status.example.com"})
    assert response.status_code == 200
    assert response.json()["page"]["url"] == "https://status.example.com"
    other = await client.get("/api/v2/status.json", headers={"Host": "else.example.com"})
    assert other.status_code == 404


async def test_upstates_statuspage_probe_reads_a_served_upstate_page(
    make: Callable[..., Any],
) -> None:
    app = await make(statuses={"web": UP, "api": DOWN, "api-eu": DOWN})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        spec = StatuspageSpec(url=f"http://127.0.0.1:{port}/s/main")
        observation = await statuspage.run(spec, ProbeContext(region="test"))
        filtered = await statuspage.run(
            StatuspageSpec(url=f"http://127.0.0.1:{port}/s/main", components=("Website",)),
            ProbeContext(region="test"),
        )
    finally:
        server.should_exit = True
        await task
    assert observation.error is None, observation.error
    facts = observation.statuspage
    assert facts is not None
    assert facts.indicator == "critical"
    assert {(c.name, c.status) for c in facts.components} == {
        ("Website", ComponentStatus.OPERATIONAL),
        ("Backend / API", ComponentStatus.MAJOR_OUTAGE),
        ("Backend / Support", ComponentStatus.OPERATIONAL),
    }
    assert facts.status is ComponentStatus.MAJOR_OUTAGE
    assert filtered.statuspage is not None
    assert filtered.statuspage.status is ComponentStatus.OPERATIONAL
