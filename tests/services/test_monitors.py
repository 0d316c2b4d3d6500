from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from upstate.config.loader import load_config_text
from upstate.config.models import UpstateConfig
from upstate.domain.enums import Status
from upstate.errors import ConfigError
from upstate.services.monitors import (
    create_monitor,
    load_monitor_models,
    rebuild,
    sync_config,
)
from upstate.services.secrets import SecretBox, SecretKeyError
from upstate.store import changes
from upstate.store import monitors as store
from upstate.store.changes import StatusChange
from upstate.store.monitors import MonitorSource
from upstate.store.tables import monitors as monitors_table

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)

FILE = """
defaults: {interval: 30s}
monitors:
  - key: api
    kind: http
    url: https://api.example.com/healthz
    headers: {X-Api-Key: "${KEY}"}
    auth: {basic: {username: monitor, password: "${PW}"}}
    conditions: ["[STATUS] == 200", "[BODY].status == ok"]
    extract: {build: "[BODY].build"}
    tags: [prod]
    critical: true
  - {key: db, kind: tcp, host: db.internal, port: 5432, timeout: 1500ms}
  - {key: mail, kind: dns, title: Mail, name: example.com, record: MX}
  - {key: nightly, kind: push, schedule: "0 3 * * *", timezone: Europe/Dublin, grace: 30m}
  - {key: shop, kind: composite, monitors: [api, db], depends_on: [mail]}
"""
ENV = {"KEY": "key-SECRET-1", "PW": "pw-SECRET-2"}


def config(text: str = FILE, **env: str) -> UpstateConfig:
    return load_config_text(text, "upstate.yaml", {**ENV, **env})


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_text(SecretBox.new_key())


async def test_it_creates_every_monitor_of_the_file(session: AsyncSession, box: SecretBox) -> None:
    report = await sync_config(session, config(), secrets=box, now=NOW)
    assert report.created == ("api", "db", "mail", "nightly", "shop")
    assert report.changed
    assert not report.updated
    assert not report.removed
    stored = {r.key: r for r in await store.list_all(session)}
    api = stored["api"]
    assert api.source is MonitorSource.CONFIG
    assert api.interval_s == 30.0
    assert api.critical
    assert api.tags == ("prod",)
    assert api.regions == ("local",)
    assert stored["mail"].name == "Mail"
    assert stored["shop"].regions == ()
    assert stored["nightly"].ping_token is not None
    assert len(stored["nightly"].ping_token) >= 32
    assert all(r.ping_token is None for k, r in stored.items() if k != "nightly")


async def test_it_rebuilds_each_model_exactly_with_secrets_decrypted(
    session: AsyncSession, box: SecretBox
) -> None:
    original = config()
    await sync_config(session, original, secrets=box, now=NOW)
    loaded = await load_monitor_models(session, secrets=box)
    assert [record.key for record, _ in loaded] == ["api", "db", "mail", "nightly", "shop"]
    for record, model in loaded:
        expected = original.monitor(record.key)
        assert model == expected, record.key
    api = dict((r.key, m) for r, m in loaded)["api"]
    spec = api.check_definition().spec
    assert spec.basic_auth == ("monitor", "pw-SECRET-2")  # type: ignore[union-attr]
    assert spec.headers == (("X-Api-Key", "key-SECRET-1"),)  # type: ignore[union-attr]


async def test_it_stores_no_secret_in_clear(session: AsyncSession, box: SecretBox) -> None:
    await sync_config(session, config(), secrets=box, now=NOW)
    rows = (await session.execute(select(monitors_table.c.definition))).scalars().all()
    text = json.dumps(rows)
    assert "SECRET" not in text
    assert '"$secret"' in text


async def test_it_keeps_ids_and_history_of_unchanged_and_updated_keys(
    session: AsyncSession, box: SecretBox
) -> None:
    await sync_config(session, config(), secrets=box, now=NOW)
    before = {r.key: r for r in await store.list_all(session)}
    await changes.add(
        session, StatusChange(before["db"].id, Status.UNKNOWN, Status.UP, NOW, "first")
    )
    edited = FILE.replace("port: 5432", "port: 6432").replace("  - {key: mail", "  # - {key: mail")
    edited = edited.replace("depends_on: [mail]", "depends_on: []")
    report = await sync_config(session, config(edited), secrets=box, now=LATER)
    assert report.updated == ("db", "shop")
    assert report.removed == ("mail",)
    assert report.unchanged == ("api", "nightly")
    after = {r.key: r for r in await store.list_all(session)}
    assert after["db"].id == before["db"].id
    assert after["db"].updated_at == LATER
    assert after["api"].updated_at == NOW  # unchanged: not rewritten
    assert after["nightly"].ping_token == before["nightly"].ping_token
    assert [c.reason for c in await changes.list_changes(session, after["db"].id)] == ["first"]
    again = await sync_config(session, config(edited), secrets=box, now=LATER)
    assert not again.changed
    assert len(again.unchanged) == 4


async def test_it_notices_a_changed_secret(session: AsyncSession, box: SecretBox) -> None:
    await sync_config(session, config(), secrets=box, now=NOW)
    report = await sync_config(session, config(PW="pw-SECRET-new"), secrets=box, now=LATER)
    assert report.updated == ("api",)


async def test_it_removes_only_what_the_file_owns(session: AsyncSession, box: SecretBox) -> None:
    await sync_config(session, config(), secrets=box, now=NOW)
    body = {"key": "extra", "kind": "tcp", "host": "127.0.0.1", "port": 22}
    await create_monitor(session, body, secrets=box, now=NOW, base_url="http://x")
    report = await sync_config(session, config("monitors: []"), secrets=box, now=LATER)
    assert report.removed == ("api", "db", "mail", "nightly", "shop")
    assert [r.key for r in await store.list_all(session)] == ["extra"]


async def test_it_lets_the_file_take_over_an_api_monitor(
    session: AsyncSession, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"key": "db", "kind": "tcp", "host": "127.0.0.1", "port": 22}
    await create_monitor(session, body, secrets=box, now=NOW, base_url="http://x")
    api_made = await store.get_by_key(session, "db")
    assert api_made is not None
    await changes.add(session, StatusChange(api_made.id, Status.UNKNOWN, Status.UP, NOW, "x"))
    with caplog.at_level(logging.WARNING):
        report = await sync_config(session, config(), secrets=box, now=LATER)
    assert report.adopted == ("db",)
    assert "db" in report.updated
    taken = await store.get_by_key(session, "db")
    assert taken is not None
    assert taken.id == api_made.id
    assert taken.source is MonitorSource.CONFIG
    assert len(await changes.list_changes(session, taken.id)) == 1
    assert "taken over by the config file key=db" in caplog.text


async def test_it_uses_and_checks_a_token_the_file_gives(
    session: AsyncSession, box: SecretBox
) -> None:
    text = """
monitors:
  - {key: a, kind: push, period: 1h, grace: 1m, token: "${T}"}
"""
    await sync_config(session, config(text, T="t" * 20), secrets=box, now=NOW)
    record = await store.get_by_key(session, "a")
    assert record is not None
    assert record.ping_token == "t" * 20
    twice = text + '  - {key: b, kind: push, period: 1h, grace: 1m, token: "${T}"}\n'
    with pytest.raises(ConfigError, match="the same ping token as a"):
        await sync_config(session, config(twice, T="t" * 20), secrets=box, now=NOW)
    with pytest.raises(ConfigError, match="at most 64 characters"):
        await sync_config(session, config(text, T="t" * 65), secrets=box, now=NOW)


async def test_it_skips_a_stored_definition_that_no_longer_validates(
    session: AsyncSession, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    await sync_config(session, config(), secrets=box, now=NOW)
    await session.execute(
        update(monitors_table)
        .where(monitors_table.c.key == "db")
        .values(definition={"kind": "tcp", "key": "db", "host": "db.internal", "port": 0})
    )
    with caplog.at_level(logging.ERROR):
        loaded = await load_monitor_models(session, secrets=box)
    assert [r.key for r, _ in loaded] == ["api", "mail", "nightly", "shop"]
    assert "stored monitor no longer valid key=db" in caplog.text


async def test_it_refuses_to_guess_with_the_wrong_key(
    session: AsyncSession, box: SecretBox
) -> None:
    await sync_config(session, config(), secrets=box, now=NOW)
    other = SecretBox.from_text(SecretBox.new_key())
    with pytest.raises(SecretKeyError, match="not the key it was written with"):
        await load_monitor_models(session, secrets=other)
    record = await store.get_by_key(session, "db")
    assert record is not None
    assert rebuild(record, other).key == "db"  # no secrets, nothing to decrypt
    report = await sync_config(session, config(), secrets=other, now=LATER)
    assert report.updated == ("api",)  # sealed again with the key in use
    assert len(await load_monitor_models(session, secrets=other)) == 5
