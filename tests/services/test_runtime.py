from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.fixtures.db import TestDatabase
from tests.scheduler.helpers import add_monitor
from upstate.config.loader import load_config_text
from upstate.domain.enums import MonitorKind, Status
from upstate.domain.push import PushState
from upstate.domain.status import MonitorState
from upstate.services import runtime
from upstate.services.results import Batch, StateUpdate, write_batch
from upstate.services.runtime import runtime_from_model

CONFIG = """
defaults: {interval: 30s, failure_threshold: 3}
monitors:
  - {key: api, kind: http, url: "https://API.example.com:8443/health", timeout: 5s,
     regions: [local, eu], quorum: 0.6, flap_changes: 4, flap_window: 10m}
  - {key: db, kind: tcp, host: db.internal, port: 5432, paused: true}
  - {key: resolver, kind: dns, name: example.com, nameserver: "127.0.0.53:5353"}
  - {key: backup, kind: push, schedule: "0 3 * * *", timezone: Europe/Dublin, grace: 30m,
     token: 0123456789abcdef0123}
  - {key: shop, kind: composite, monitors: [api, db], at_least: 1, depends_on: [resolver]}
"""


def models():
    return {m.key: m for m in load_config_text(CONFIG).monitors}


def test_it_builds_what_the_engine_needs_from_a_config_model() -> None:
    api = runtime_from_model(7, models()["api"])
    assert (api.id, api.key, api.kind) == (7, "api", MonitorKind.HTTP)
    assert (api.interval_s, api.timeout_s, api.target_host) == (30.0, 5.0, "api.example.com")
    assert api.definition is not None
    assert api.definition.spec.url == "https://API.example.com:8443/health"  # type: ignore[union-attr]
    policy = api.policy
    assert (policy.failure_threshold, policy.success_threshold, policy.quorum) == (3, 1, 0.6)
    assert (policy.regions, policy.flap_changes, policy.flap_window_s) == (("local", "eu"), 4, 600)
    assert runtime_from_model(2, models()["db"]).paused
    assert runtime_from_model(2, models()["db"], paused=False).paused is False
    assert runtime_from_model(3, models()["resolver"]).target_host == "127.0.0.53"


def test_it_builds_push_and_composite_monitors_that_are_not_probed() -> None:
    backup = runtime_from_model(4, models()["backup"])
    assert backup.definition is None
    assert backup.ping_token == "0123456789abcdef0123"
    assert backup.push is not None
    assert (backup.push.cron, backup.push.timezone, backup.push.grace_s) == (
        "0 3 * * *",
        "Europe/Dublin",
        1800.0,
    )
    assert backup.policy.failure_threshold == 1  # the grace period already damps it
    stored_token = runtime_from_model(4, models()["backup"], ping_token="from-the-store")
    assert stored_token.ping_token == "from-the-store"
    shop = runtime_from_model(5, models()["shop"])
    assert (shop.children, shop.at_least, shop.depends_on) == (("api", "db"), 1, ("resolver",))


def test_it_tells_an_edited_monitor_from_an_unchanged_one() -> None:
    edited = load_config_text(CONFIG.replace("timeout: 5s", "timeout: 6s")).monitor("api")
    assert edited is not None
    assert runtime_from_model(7, models()["api"]) == runtime_from_model(7, models()["api"])
    assert runtime_from_model(7, models()["api"]) != runtime_from_model(7, edited)


async def test_it_loads_monitors_and_their_states_from_the_store(db: TestDatabase) -> None:
    api = await add_monitor(db, "api", url="http://127.0.0.1:1/", interval="5s")
    cron = await add_monitor(db, "cron", kind="push", period="1h", grace="1m", paused=True)
    await add_monitor(db, "broken", kind="http", url="not a url")  # skipped, logged
    async with db.sessions() as session:
        loaded = {m.key: m for m in await runtime.load_monitors(session)}
    assert set(loaded) == {"api", "cron"}
    assert loaded["api"].interval_s == 5.0
    assert loaded["cron"].paused
    assert loaded["cron"].created_at == cron.created_at

    now = datetime.now(UTC)
    memory = PushState(created_at=now, last_ping_at=now)
    state = MonitorState(status=Status.DOWN, since=now, underlying=Status.DOWN, failures=2)
    batch = Batch(
        states=[StateUpdate(api.id, state, now), StateUpdate(cron.id, MonitorState(), None, memory)]
    )
    await write_batch(db.sessions, batch, now=now)
    async with db.sessions() as session:
        stored = await runtime.load_stored_states(session)
        plain = await runtime.load_states(session)
    assert stored[api.id].state == state
    assert stored[api.id].checked_at == now
    assert stored[cron.id].push == memory
    assert plain[api.id] == state


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_it_skips_a_stored_state_it_cannot_read(db: TestDatabase) -> None:
    from upstate.store import states
    from upstate.store.states import StateRecord

    api = await add_monitor(db, "api")
    now = datetime.now(UTC)
    async with db.sessions() as session:
        bad = StateRecord(api.id, Status.UP, now, None, {"status": "sideways"}, now)
        await states.put_state(session, bad)
        await session.commit()
        assert await runtime.load_states(session) == {}
