"""The http probe following redirects: hops, methods, credentials, limits, one deadline."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from tests.probes.http_helpers import echoed, echoed_header, probe
from tests.targets.http import HttpTarget
from upstate.domain.enums import ErrorKind


def redirect_to(target: HttpTarget, location: str, status: int = 302) -> str:
    return target.url(f"/redirect-to?status={status}&url={quote(location, safe='')}")


async def test_it_follows_a_chain_and_lists_every_hop(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/redirect/3"))

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.body == b"arrived"
    assert observation.redirects == tuple(http_target.url(f"/redirect/{n}") for n in (2, 1, 0))


async def test_it_resolves_a_relative_location(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/redirect-relative"))

    assert observation.redirects == (http_target.url("/ok"),)
    assert observation.body == b"ok\n"


async def test_it_follows_an_absolute_location(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/redirect-absolute"))

    assert observation.redirects == (http_target.url("/ok"),)
    assert observation.status_code == 200


async def test_it_stops_a_redirect_loop(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/redirect-loop"))

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TOO_MANY_REDIRECTS
    assert observation.status_code == 302


async def test_it_stops_after_max_redirects(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/redirect/5"), max_redirects=2)

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TOO_MANY_REDIRECTS
    assert observation.error.message == "more than 2 redirects"
    assert len(observation.redirects) == 2


async def test_it_allows_exactly_max_redirects(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/redirect/2"), max_redirects=2)

    assert observation.error is None
    assert observation.body == b"arrived"


async def test_it_reports_the_redirect_itself_when_not_following(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/redirect/1"), follow_redirects=False)

    assert observation.error is None
    assert observation.status_code == 302
    assert observation.header("location") == "/redirect/0"
    assert observation.redirects == ()


@pytest.mark.parametrize(
    ("status", "method", "then_method", "then_body"),
    [
        (303, "POST", "GET", ""),
        (303, "PUT", "GET", ""),
        (301, "POST", "GET", ""),
        (302, "POST", "GET", ""),
        (302, "PUT", "PUT", "payload"),
        (307, "POST", "POST", "payload"),
        (308, "POST", "POST", "payload"),
    ],
)
async def test_it_changes_the_method_the_way_browsers_do(
    http_target: HttpTarget, status: int, method: str, then_method: str, then_body: str
) -> None:
    observation = await probe(
        redirect_to(http_target, "/echo", status),
        method=method,
        body=b"payload",
        headers=(("Content-Type", "text/plain"),),
    )

    assert echoed(observation)["method"] == then_method
    assert echoed(observation)["body"] == then_body
    has_type = echoed_header(observation, "Content-Type") is not None
    assert has_type == (then_method != "GET")


async def test_it_keeps_credentials_on_the_same_host(http_target: HttpTarget) -> None:
    observation = await probe(redirect_to(http_target, "/echo"), bearer_token="t0k")

    assert echoed_header(observation, "Authorization") == "Bearer t0k"


async def test_it_drops_credentials_when_the_host_changes(http_target: HttpTarget) -> None:
    elsewhere = f"http://localhost:{http_target.port}/echo"
    observation = await probe(redirect_to(http_target, elsewhere), basic_auth=("monitor", "secret"))

    assert echoed_header(observation, "Authorization") is None
    assert echoed_header(observation, "Host") == f"localhost:{http_target.port}"


async def test_it_reports_the_phases_of_the_last_hop(http_target: HttpTarget) -> None:
    elsewhere = f"http://localhost:{http_target.port}/ok"
    observation = await probe(redirect_to(http_target, elsewhere))

    assert observation.body == b"ok\n"
    assert observation.phases.dns is not None  # the first hop was an IP literal, the last not
    assert observation.duration_ms > observation.phases.dns + (observation.phases.ttfb or 0)


async def test_it_refuses_a_location_it_cannot_follow(http_target: HttpTarget) -> None:
    observation = await probe(redirect_to(http_target, "ftp://127.0.0.1/file"))

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.INVALID_RESPONSE
    assert "ftp://127.0.0.1/file" in observation.error.message


async def test_it_holds_one_deadline_across_hops(http_target: HttpTarget) -> None:
    began = time.perf_counter()
    observation = await probe(redirect_to(http_target, "/slow-headers"), timeout_s=0.3)
    elapsed = time.perf_counter() - began

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TIMEOUT
    assert observation.redirects == (http_target.url("/slow-headers"),)
    assert 0.3 - 0.005 <= elapsed < 0.3 + 0.1  # uvloop timers tick in ms
