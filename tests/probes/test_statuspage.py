"""The statuspage probe: parsing summary.json documents, then end to end over loopback HTTP(S)."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.targets.loopthread import LoopThread
from upstate.domain.enums import ComponentStatus, ErrorKind, MonitorKind
from upstate.domain.observation import UpstreamComponent, UpstreamIncident
from upstate.domain.specs import StatuspageSpec
from upstate.probes import statuspage
from upstate.probes.base import ProbeContext
from upstate.probes.statuspage import InvalidSummary, parse_summary, summary_url

DATA = Path(__file__).parent / "data"
OPERATIONAL = ComponentStatus.OPERATIONAL


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"statuspage_{name}.json").read_text())
    return data


@pytest.fixture
def flat() -> dict[str, Any]:
    """Modelled on githubstatus.com: no groups, one component degraded, one incident."""
    return load("flat")


@pytest.fixture
def grouped() -> dict[str, Any]:
    """Modelled on a Supabase-style page: groups with members, an empty group, maintenance."""
    return load("grouped")


# ---- parse_summary ---------------------------------------------------------------------


def test_it_reads_every_component_of_a_flat_page(flat: dict[str, Any]) -> None:
    facts = parse_summary(flat, ())

    assert facts.indicator == "minor"
    assert facts.description == "Minor Service Outage"
    assert len(facts.components) == 11
    assert UpstreamComponent("Actions", ComponentStatus.DEGRADED_PERFORMANCE) in facts.components
    assert facts.status is ComponentStatus.DEGRADED_PERFORMANCE
    assert facts.incidents == (UpstreamIncident("Incident with Actions", "investigating", "minor"),)


def test_it_keeps_only_the_components_the_filters_pick(flat: dict[str, Any]) -> None:
    facts = parse_summary(flat, ["git*", "API Requests"])

    assert facts.components == (
        UpstreamComponent("Git Operations", OPERATIONAL),
        UpstreamComponent("API Requests", OPERATIONAL),
    )
    assert facts.status is OPERATIONAL  # Actions is degraded, but not asked about
    assert facts.indicator == "minor"  # the page's own word is carried as is


def test_it_matches_filters_without_regard_to_case(flat: dict[str, Any]) -> None:
    facts = parse_summary(flat, ["ACTIONS"])

    assert facts.components == (UpstreamComponent("Actions", ComponentStatus.DEGRADED_PERFORMANCE),)
    assert facts.status is ComponentStatus.DEGRADED_PERFORMANCE


def test_it_names_grouped_components_by_group_and_skips_the_containers(
    grouped: dict[str, Any],
) -> None:
    facts = parse_summary(grouped, ())

    assert [c.name for c in facts.components] == [
        "APIs / Auth",
        "APIs / Storage",
        "APIs / Realtime",
        "Regions / East US (North Virginia)",
        "Regions / West EU (Ireland)",
        "Regions / Southeast Asia (Singapore)",
        "Dashboard",
        "Billing",  # a group with no members is a component of its own
    ]
    assert facts.status is ComponentStatus.PARTIAL_OUTAGE
    assert facts.indicator == "major"
    assert facts.incidents == (
        UpstreamIncident("Realtime connection errors in some projects", "identified", "major"),
        UpstreamIncident("Delayed email delivery for sign-up confirmations", "monitoring", "minor"),
    )


def test_it_selects_a_whole_group_by_its_name(grouped: dict[str, Any]) -> None:
    facts = parse_summary(grouped, ["regions"])

    assert [c.name for c in facts.components] == [
        "Regions / East US (North Virginia)",
        "Regions / West EU (Ireland)",
        "Regions / Southeast Asia (Singapore)",
    ]
    assert facts.status is ComponentStatus.UNDER_MAINTENANCE


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("APIs / Realtime", ["APIs / Realtime"]),
        ("apis/realtime", ["APIs / Realtime"]),
        ("Realtime", ["APIs / Realtime"]),
        ("APIs / *", ["APIs / Auth", "APIs / Storage", "APIs / Realtime"]),
        ("* (Singapore)", ["Regions / Southeast Asia (Singapore)"]),
        ("*/ West EU*", ["Regions / West EU (Ireland)"]),
    ],
)
def test_it_matches_names_with_or_without_their_group(
    grouped: dict[str, Any], pattern: str, expected: list[str]
) -> None:
    facts = parse_summary(grouped, [pattern])

    assert [c.name for c in facts.components] == expected


def test_it_ranks_unplanned_trouble_above_maintenance(grouped: dict[str, Any]) -> None:
    grouped["components"][2]["status"] = "degraded_performance"  # APIs / Storage
    grouped["components"][3]["status"] = "operational"  # APIs / Realtime

    facts = parse_summary(grouped, ["Regions", "Storage"])

    assert facts.status is ComponentStatus.DEGRADED_PERFORMANCE


def test_it_takes_the_worst_status_of_the_kept_components(grouped: dict[str, Any]) -> None:
    grouped["components"][5]["status"] = "major_outage"  # Regions / East US

    assert parse_summary(grouped, ()).status is ComponentStatus.MAJOR_OUTAGE
    assert parse_summary(grouped, ["APIs"]).status is ComponentStatus.PARTIAL_OUTAGE


def test_it_refuses_a_filter_that_matches_nothing(grouped: dict[str, Any]) -> None:
    with pytest.raises(InvalidSummary) as caught:
        parse_summary(grouped, ["Realtime", "Databse"])

    message = str(caught.value)
    assert message.startswith("summary.json: no component matches 'Databse' (the page has: ")
    assert "'Realtime'" not in message
    assert "APIs / Realtime" in message  # a hint to fix the typo with


def test_it_knows_group_members_from_the_group_list_alone(grouped: dict[str, Any]) -> None:
    for component in grouped["components"]:
        component["group_id"] = None

    facts = parse_summary(grouped, ["apis"])

    assert [c.name for c in facts.components] == [
        "APIs / Auth",
        "APIs / Storage",
        "APIs / Realtime",
    ]


def test_it_survives_groups_that_contain_each_other() -> None:
    data = {
        "status": {"indicator": "none", "description": "All Systems Operational"},
        "components": [
            {"id": "a", "name": "A", "status": "operational", "group_id": "b", "group": True},
            {"id": "b", "name": "B", "status": "operational", "group_id": "a", "group": True},
            {"id": "c", "name": "C", "status": "major_outage", "group_id": "a"},
        ],
    }

    facts = parse_summary(data, ["c"])

    assert facts.components == (UpstreamComponent("B / A / C", ComponentStatus.MAJOR_OUTAGE),)


def test_it_drops_incidents_that_are_already_resolved(flat: dict[str, Any]) -> None:
    resolved = copy.deepcopy(flat["incidents"][0])
    resolved.update(name="Old one", status="resolved")
    flat["incidents"].append(resolved)

    assert [i.name for i in parse_summary(flat, ()).incidents] == ["Incident with Actions"]


def test_it_reads_an_all_good_page_without_incidents() -> None:
    data = {
        "page": {"id": "p", "name": "Tiny"},
        "status": {"indicator": "none", "description": "All Systems Operational"},
        "components": [{"id": "1", "name": "Website", "status": "operational"}],
    }

    facts = parse_summary(data, ())

    assert facts.status is OPERATIONAL
    assert facts.indicator == "none"
    assert facts.incidents == ()


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        del node[int(last) if last.isdigit() else last]

    return edit


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop("components.3.status"), "summary.json: component 3 ('API Requests') has no status"),
        (
            _set("components.6.status", "on_fire"),
            "summary.json: component 6 ('Actions') has an unknown status 'on_fire'",
        ),
        (_drop("components.0.name"), "summary.json: component 0 has no name"),
        (_set("components.2", "Webhooks"), "summary.json: component 2 is a string, not an object"),
        (_drop("components"), "summary.json: 'components' is missing (or null), expected a list"),
        (_set("components", {}), "summary.json: 'components' is an object, expected a list"),
        (_drop("status"), "summary.json: 'status' is missing (or null), expected an object"),
        (_drop("status.indicator"), "summary.json: status has no indicator"),
        (_drop("incidents.0.impact"), "summary.json: incident 0 has no impact"),
        (_set("incidents", "none"), "summary.json: 'incidents' is a string, expected a list"),
    ],
)
def test_it_says_exactly_what_is_wrong_with_a_malformed_summary(
    flat: dict[str, Any], edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    edit(flat)

    with pytest.raises(InvalidSummary) as caught:
        parse_summary(flat, ())

    assert str(caught.value) == message


def test_it_refuses_a_document_that_is_not_an_object() -> None:
    with pytest.raises(InvalidSummary, match=r"^summary.json: expected an object, got a list$"):
        parse_summary([], ())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.githubstatus.com", "https://www.githubstatus.com/api/v2/summary.json"),
        ("https://www.githubstatus.com/", "https://www.githubstatus.com/api/v2/summary.json"),
        ("https://host/s/acme/", "https://host/s/acme/api/v2/summary.json"),
        ("https://host/custom/summary.json", "https://host/custom/summary.json"),
        ("https://host/page?lang=en", "https://host/page/api/v2/summary.json?lang=en"),
    ],
)
def test_it_finds_the_summary_document(url: str, expected: str) -> None:
    assert summary_url(url) == expected


# ---- end to end, over the http probe ---------------------------------------------------------


@dataclass
class StatusSite:
    """Loopback HTTP and HTTPS servers answering from `routes`; `seen` records each request."""

    http: str
    https: str
    routes: dict[str, tuple[int, bytes]]
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)


_REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}


@pytest.fixture(scope="module")
def site(server_ssl_context: Callable[[str], ssl.SSLContext]) -> Iterator[StatusSite]:
    routes: dict[str, tuple[int, bytes]] = {}
    seen: list[tuple[str, dict[str, str]]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
            target = request_line.split(" ")[1]
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines)}
            seen.append((target, headers))
            status, body = routes.get(target, (404, b'{"error": "not found"}'))
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()

    thread = LoopThread("statuspage-targets")
    plain = thread.call(asyncio.start_server(answer, "127.0.0.1", 0))
    secure = thread.call(
        asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ssl_context("good"))
    )
    yield StatusSite(
        http=f"http://127.0.0.1:{plain.sockets[0].getsockname()[1]}",
        https=f"https://localhost:{secure.sockets[0].getsockname()[1]}",
        routes=routes,
        seen=seen,
    )
    plain.close()
    secure.close()
    thread.stop()


@pytest.fixture(scope="module")
def ctx() -> ProbeContext:
    return ProbeContext(region="test")


def _serve(site: StatusSite, path: str, status: int, body: bytes) -> None:
    site.routes[path] = (status, body)


async def test_it_reads_a_page_end_to_end(site: StatusSite, ctx: ProbeContext) -> None:
    body = (DATA / "statuspage_flat.json").read_bytes()
    _serve(site, "/github/api/v2/summary.json", 200, body)

    obs = await statuspage.run(StatuspageSpec(url=f"{site.http}/github/"), ctx)

    assert obs.error is None
    assert obs.kind is MonitorKind.STATUSPAGE
    assert obs.target == f"{site.http}/github/"
    assert obs.region == "test"
    assert obs.status_code == 200
    assert obs.ip == "127.0.0.1"
    assert obs.phases.connect is not None
    assert obs.phases.ttfb is not None
    assert obs.body == body
    assert obs.statuspage is not None
    assert obs.statuspage.status is ComponentStatus.DEGRADED_PERFORMANCE
    assert obs.statuspage.indicator == "minor"
    assert len(obs.statuspage.incidents) == 1
    target, headers = site.seen[-1]
    assert target == "/github/api/v2/summary.json"
    assert headers["accept"] == "application/json"


async def test_it_applies_the_filters_end_to_end(site: StatusSite, ctx: ProbeContext) -> None:
    _serve(
        site, "/supabase/api/v2/summary.json", 200, (DATA / "statuspage_grouped.json").read_bytes()
    )

    obs = await statuspage.run(
        StatuspageSpec(url=f"{site.http}/supabase", components=("APIs / Auth", "Dashboard")), ctx
    )

    assert obs.error is None
    assert obs.statuspage is not None
    assert obs.statuspage.components == (
        UpstreamComponent("APIs / Auth", OPERATIONAL),
        UpstreamComponent("Dashboard", OPERATIONAL),
    )
    assert obs.statuspage.status is OPERATIONAL
    assert obs.statuspage.indicator == "major"


async def test_it_reads_a_page_over_https_with_a_private_ca(
    site: StatusSite, ctx: ProbeContext, ca_file: str
) -> None:
    _serve(site, "/tls/api/v2/summary.json", 200, (DATA / "statuspage_grouped.json").read_bytes())

    obs = await statuspage.run(StatuspageSpec(url=f"{site.https}/tls", ca_file=ca_file), ctx)

    assert obs.error is None
    assert obs.phases.tls is not None
    assert obs.cert is not None
    assert obs.statuspage is not None
    assert obs.statuspage.status is ComponentStatus.PARTIAL_OUTAGE


async def test_it_uses_a_json_url_as_given(site: StatusSite, ctx: ProbeContext) -> None:
    _serve(
        site, "/elsewhere/status-summary.json", 200, (DATA / "statuspage_flat.json").read_bytes()
    )

    obs = await statuspage.run(
        StatuspageSpec(url=f"{site.http}/elsewhere/status-summary.json"), ctx
    )

    assert obs.error is None
    assert site.seen[-1][0] == "/elsewhere/status-summary.json"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b'{"error": "internal"}', "summary.json: HTTP 500, expected 2xx"),
        (200, b"<html>Maintenance</html>", "summary.json: invalid JSON at line 1 column 1"),
        (200, b'{"status": {"indicator": "none"', "summary.json: invalid JSON at line 1 column 32"),
        (200, b"[1, 2]", "summary.json: expected an object, got a list"),
    ],
)
async def test_it_reports_an_unusable_answer_as_invalid_response(
    site: StatusSite, ctx: ProbeContext, status: int, body: bytes, message: str
) -> None:
    _serve(site, "/bad/api/v2/summary.json", status, body)

    obs = await statuspage.run(StatuspageSpec(url=f"{site.http}/bad"), ctx)

    assert obs.error is not None
    assert obs.error.kind is ErrorKind.INVALID_RESPONSE
    assert obs.error.message.startswith(message)
    assert obs.status_code == status
    assert obs.statuspage is None
    assert obs.kind is MonitorKind.STATUSPAGE


async def test_it_reports_a_filter_typo_end_to_end(site: StatusSite, ctx: ProbeContext) -> None:
    _serve(site, "/typo/api/v2/summary.json", 200, (DATA / "statuspage_flat.json").read_bytes())

    obs = await statuspage.run(
        StatuspageSpec(url=f"{site.http}/typo", components=("Copliot",)), ctx
    )

    assert obs.error is not None
    assert obs.error.kind is ErrorKind.INVALID_RESPONSE
    assert obs.error.message.startswith("summary.json: no component matches 'Copliot'")


async def test_it_refuses_a_summary_cut_short_by_max_body(
    site: StatusSite, ctx: ProbeContext
) -> None:
    _serve(site, "/long/api/v2/summary.json", 200, (DATA / "statuspage_flat.json").read_bytes())

    obs = await statuspage.run(StatuspageSpec(url=f"{site.http}/long", max_body=1000), ctx)

    assert obs.error is not None
    assert obs.error.message == "summary.json: larger than max_body (1000 bytes)"
    assert obs.body_truncated


async def test_it_keeps_only_a_sample_of_a_large_summary(
    site: StatusSite, ctx: ProbeContext
) -> None:
    doc = load("flat")
    template = doc["components"][0]
    doc["components"] = [{**template, "id": f"c{i}", "name": f"Edge {i}"} for i in range(400)]
    body = json.dumps(doc).encode()
    assert len(body) > statuspage.KEPT_BODY
    _serve(site, "/large/api/v2/summary.json", 200, body)

    obs = await statuspage.run(StatuspageSpec(url=f"{site.http}/large"), ctx)

    assert obs.error is None
    assert obs.statuspage is not None
    assert len(obs.statuspage.components) == 400
    assert obs.body == body[: statuspage.KEPT_BODY]
    assert obs.body_truncated


async def test_it_passes_a_connection_failure_through(ctx: ProbeContext) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    obs = await statuspage.run(StatuspageSpec(url=f"http://127.0.0.1:{port}"), ctx)

    assert obs.error is not None
    assert obs.error.kind is ErrorKind.CONNECTION_REFUSED
    assert obs.kind is MonitorKind.STATUSPAGE
    assert obs.statuspage is None
