"""/ping/<token>[/start|/fail|/<exit status>]: push monitors check in (GET, POST or HEAD).

Public (the token is the credential) and cheap: read at most 10 KB of the body, hand a
PingSignal to the engine, answer "OK" as text. An unknown token or suffix is 404. The
rest of a larger body is never read; the server closes that connection afterwards.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from upstate.services.engine import PingKind, PingSignal
from upstate.web.deps import Engine, Now

router = APIRouter(tags=["push"])

BODY_LIMIT = 10 * 1024  # bytes of a ping's body that are kept (as the store keeps)
METHODS = ["GET", "POST", "HEAD"]
_SUFFIXES = {"start": PingKind.START, "fail": PingKind.FAIL}


async def ping(token: str, request: Request, engine: Engine, now: Now) -> PlainTextResponse:
    """Success."""
    return await _signal(request, engine, token, PingSignal(PingKind.SUCCESS, now))


async def ping_with(
    token: str, suffix: str, request: Request, engine: Engine, now: Now
) -> PlainTextResponse:
    """`start` (a run begins), `fail`, or the job's exit status 0-255 (0 is success)."""
    if suffix in _SUFFIXES:
        return await _signal(request, engine, token, PingSignal(_SUFFIXES[suffix], now))
    if suffix.isdigit() and len(suffix) <= 3 and int(suffix) <= 255:
        signal = PingSignal(PingKind.EXIT, now, exit_status=int(suffix))
        return await _signal(request, engine, token, signal)
    return PlainTextResponse("not found\n", status_code=404)


# One route per method: OpenAPI gives each (path, method) its own operation id.
for _method in METHODS:
    for _path, _endpoint in (("/ping/{token}", ping), ("/ping/{token}/{suffix}", ping_with)):
        router.add_api_route(
            _path,
            _endpoint,
            methods=[_method],
            name=f"{_endpoint.__name__}_{_method.lower()}",
            response_class=PlainTextResponse,
        )


async def _signal(
    request: Request, engine: Engine, token: str, signal: PingSignal
) -> PlainTextResponse:
    body = await read_body(request, BODY_LIMIT)
    client = request.client.host if request.client else None
    signal = PingSignal(signal.kind, signal.at, signal.exit_status, body, client)
    if not await engine.ping(token, signal):
        return PlainTextResponse("not found\n", status_code=404)
    return PlainTextResponse("OK\n")


async def read_body(request: Request, limit: int) -> str | None:
    """At most `limit` bytes of the body as text (a character cut in two is dropped)."""
    if request.method == "HEAD":
        return None
    kept = bytearray()
    async for chunk in request.stream():
        kept += chunk[: limit - len(kept)]
        if len(kept) >= limit:
            break
    if not kept:
        return None
    return kept.decode("utf-8", errors="replace").encode()[:limit].decode(errors="ignore")
