import json
import urllib.error
import urllib.request

import pytest

from tests.targets.http import HttpTarget, Request, Response, json_response


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_it_serves_an_added_route_by_prefix(http_target: HttpTarget) -> None:
    async def pong(request: Request) -> Response:
        return json_response({"tail": request.path.rsplit("/", 1)[1], "q": request.param("q")})

    http_target.route("/test-targets-pong/", pong)

    status, body = fetch(http_target.url("/test-targets-pong/abc?q=1"))

    assert status == 200
    assert json.loads(body) == {"tail": "abc", "q": "1"}


def test_it_answers_404_for_an_unknown_path(http_target: HttpTarget) -> None:
    status, _ = fetch(http_target.url("/test-targets-nothing-here"))

    assert status == 404


@pytest.mark.parametrize(("path", "expected"), [("/ok", b"ok\n"), ("/status/503", b"status 503")])
def test_it_serves_the_builtin_routes(http_target: HttpTarget, path: str, expected: bytes) -> None:
    assert fetch(http_target.url(path))[1] == expected
