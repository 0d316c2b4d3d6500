"""The PagerDuty channel against a local server speaking Events API v2."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.notify.samples import incident_event, maintenance_event, monitor_event, pagerduty
from tests.targets.http import Response
from tests.targets.receivers import PAGERDUTY_ROUTING_KEY, PagerDutyFake
from tests.targets.tcp import free_port
from upstate.config.notifications import PagerDutyChannel
from upstate.notify import pagerduty as channel
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Outcome
from upstate.notify.events import EventKind, build_test_event

MakeCtx = Callable[..., NotifyContext]
MakeFake = Callable[..., PagerDutyFake]


async def test_it_triggers_then_resolves_an_outage_with_the_same_dedup_key(
    make_ctx: MakeCtx, pagerduty_fake: MakeFake
) -> None:
    fake = pagerduty_fake()
    ctx = make_ctx(pagerduty_url=fake.base_url, base_url="https://status.example")
    pager = pagerduty(PAGERDUTY_ROUTING_KEY)

    down = await channel.send(pager, monitor_event(EventKind.MONITOR_DOWN), ctx)
    assert down.outcome is Outcome.OK
    assert down.status_code == 202
    assert fake.alerts == {"upstate/monitor/public-api": "triggered"}
    up = await channel.send(pager, monitor_event(EventKind.MONITOR_UP), ctx)

    assert up.outcome is Outcome.OK
    assert down.remote_id == up.remote_id == "upstate/monitor/public-api"
    assert fake.alerts == {"upstate/monitor/public-api": "resolved"}
    trigger, resolve = fake.events
    assert trigger["event_action"] == "trigger"
    assert trigger["routing_key"] == PAGERDUTY_ROUTING_KEY
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"].startswith("DOWN: Public API: Public API is down")
    assert trigger["payload"]["source"] == "public-api"
    assert trigger["payload"]["timestamp"] == "2025-03-01T12:00:00.000Z"
    assert trigger["payload"]["custom_details"]["observation"]["status_code"] == 503
    assert trigger["client_url"] == "https://status.example"
    assert trigger["links"] == [
        {"href": "https://status.example/monitors/public-api", "text": "Open in Upstate"}
    ]
    assert resolve == {
        "routing_key": PAGERDUTY_ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": "upstate/monitor/public-api",
    }


async def test_it_keys_an_incident_by_its_id_and_pages_by_its_impact(
    make_ctx: MakeCtx, pagerduty_fake: MakeFake
) -> None:
    fake = pagerduty_fake()
    ctx = make_ctx(pagerduty_url=fake.base_url)
    pager = pagerduty(PAGERDUTY_ROUTING_KEY)

    await channel.send(pager, incident_event(impact="minor"), ctx)
    await channel.send(pager, incident_event(EventKind.INCIDENT_UPDATED, impact="critical"), ctx)
    assert fake.alerts == {"upstate/incident/42": "triggered"}
    await channel.send(pager, incident_event(EventKind.INCIDENT_RESOLVED, status="resolved"), ctx)

    assert fake.alerts == {"upstate/incident/42": "resolved"}
    assert [event["payload"]["severity"] for event in fake.events[:2]] == ["warning", "critical"]


async def test_it_skips_maintenance_without_a_request(
    make_ctx: MakeCtx, pagerduty_fake: MakeFake
) -> None:
    fake = pagerduty_fake()

    delivery = await channel.send(
        pagerduty(PAGERDUTY_ROUTING_KEY), maintenance_event(), make_ctx(pagerduty_url=fake.base_url)
    )

    assert delivery.outcome is Outcome.SKIPPED
    assert delivery.done
    assert fake.events == []


async def test_it_sends_a_test_as_an_info_alert_resolved_at_once(
    make_ctx: MakeCtx, pagerduty_fake: MakeFake
) -> None:
    fake = pagerduty_fake()
    event = build_test_event("pager", monitor_event().occurred_at, nonce="n1")

    delivery = await channel.send(
        pagerduty(PAGERDUTY_ROUTING_KEY), event, make_ctx(pagerduty_url=fake.base_url)
    )

    assert delivery.outcome is Outcome.OK
    assert [e["event_action"] for e in fake.events] == ["trigger", "resolve"]
    assert fake.events[0]["payload"]["severity"] == "info"
    assert fake.alerts == {"upstate/test/test:n1/pager": "resolved"}


async def test_it_gives_up_on_an_event_pagerduty_calls_invalid(
    make_ctx: MakeCtx, pagerduty_fake: MakeFake
) -> None:
    fake = pagerduty_fake()
    bad_key = "not-32-characters-secret"

    delivery = await channel.send(
        pagerduty(bad_key), monitor_event(), make_ctx(pagerduty_url=fake.base_url)
    )

    assert delivery.outcome is Outcome.PERMANENT
    assert delivery.status_code == 400
    assert delivery.error is not None
    assert "Length of 'routing_key' is incorrect" in delivery.error
    assert bad_key not in delivery.error
    assert fake.alerts == {}


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_it_retries_when_pagerduty_is_busy_or_failing(
    make_ctx: MakeCtx, pagerduty_fake: MakeFake, status: int
) -> None:
    fake = pagerduty_fake(Response(status, b""))
    ctx = make_ctx(pagerduty_url=fake.base_url)
    pager = pagerduty(PAGERDUTY_ROUTING_KEY)

    first = await channel.send(pager, monitor_event(), ctx)
    second = await channel.send(pager, monitor_event(), ctx)

    assert first.outcome is Outcome.RETRY
    assert first.status_code == status
    assert second.outcome is Outcome.OK
    assert fake.alerts == {"upstate/monitor/public-api": "triggered"}


async def test_it_retries_when_pagerduty_cannot_be_reached(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(pagerduty_url=f"http://127.0.0.1:{free_port()}")

    delivery = await channel.send(pagerduty(PAGERDUTY_ROUTING_KEY), monitor_event(), ctx)

    assert delivery.outcome is Outcome.RETRY


def test_it_derives_one_action_for_every_kind_of_event() -> None:
    actions = {
        kind: channel.action(monitor_event(kind))
        for kind in (
            EventKind.MONITOR_DOWN,
            EventKind.MONITOR_DEGRADED,
            EventKind.MONITOR_FLAPPING,
            EventKind.MONITOR_UP,
        )
    }
    assert actions == {
        EventKind.MONITOR_DOWN: "trigger",
        EventKind.MONITOR_DEGRADED: "trigger",
        EventKind.MONITOR_FLAPPING: "trigger",
        EventKind.MONITOR_UP: "resolve",
    }
    closed = incident_event(EventKind.INCIDENT_UPDATED, status="postmortem")
    assert channel.action(closed) == "resolve"
    assert channel.action(maintenance_event(EventKind.MAINTENANCE_COMPLETED)) is None


async def test_an_eu_account_is_paged_on_the_eu_host(
    make_ctx: MakeCtx, pagerduty_fake: MakeFake
) -> None:
    us, eu = pagerduty_fake(), pagerduty_fake()
    ctx = make_ctx(pagerduty_url=us.base_url, pagerduty_eu_url=eu.base_url)
    pager = PagerDutyChannel.model_validate(
        {"key": "pager", "routing_key": PAGERDUTY_ROUTING_KEY, "region": "eu"}
    )
    delivery = await channel.send(pager, monitor_event(EventKind.MONITOR_DOWN), ctx)
    assert delivery.outcome is Outcome.OK
    assert (len(us.events), len(eu.events)) == (0, 1)
