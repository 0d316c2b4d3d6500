"""One HTTP POST for the HTTP channels (webhook, PagerDuty), classified into a Delivery.

One deadline covers the whole exchange (a receiver that drips its answer cannot hold a
sender), and only the first few KiB of the answer are read: enough for an error message
or a small JSON reply. The URL never appears in an error text: it may carry a token.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Delivery, find_cause, from_http_status, redact

MAX_ANSWER_BYTES = 16 * 1024
EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Reply:
    delivery: Delivery
    body: bytes = b""  # the first MAX_ANSWER_BYTES of the answer, undecoded


async def post(
    ctx: NotifyContext,
    url: str,
    body: bytes,
    headers: dict[str, str],
    secrets: tuple[str, ...] = (),
) -> Reply:
    """POST `body`; `secrets` are masked in any error text (the URL's own parts are too)."""
    secrets = (*secrets, *_url_secrets(url))
    sent = {
        "User-Agent": ctx.user_agent,
        "Accept-Encoding": "identity",  # the excerpt is read raw: no decompression
        **headers,
    }
    try:
        async with asyncio.timeout(ctx.timeout):
            async with ctx.http.stream("POST", url, content=body, headers=sent) as response:
                answer = await _read_bounded(response)
    except (TimeoutError, httpx.TimeoutException):
        return Reply(Delivery.retry(f"timed out after {ctx.timeout:g}s"))
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        return Reply(Delivery.permanent("invalid URL: http:// or https:// expected"))
    except (httpx.HTTPError, OSError) as exc:
        return Reply(_transport_failure(exc, secrets))
    excerpt = redact(_excerpt(answer), secrets)
    delivery = from_http_status(
        response.status_code,
        retry_after=response.headers.get("retry-after"),
        body=excerpt,
        now=ctx.clock(),
    )
    return Reply(delivery, answer)


async def _read_bounded(response: httpx.Response) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= MAX_ANSWER_BYTES:
            break
    return bytes(data[:MAX_ANSWER_BYTES])


def _excerpt(answer: bytes) -> str:
    text = " ".join(answer.decode("utf-8", errors="replace").split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _transport_failure(exc: BaseException, secrets: tuple[str, ...]) -> Delivery:
    verify = find_cause(exc, ssl.SSLCertVerificationError)
    if isinstance(verify, ssl.SSLCertVerificationError):
        # The receiver's certificate will not become trusted by waiting: someone must act.
        reason = verify.verify_message or "verification failed"
        return Delivery.permanent(f"TLS certificate not trusted: {reason}")
    if isinstance(exc, httpx.ConnectError | ConnectionError):
        return Delivery.retry(redact(f"could not connect: {exc}", secrets))
    detail = str(exc) or type(exc).__name__
    return Delivery.retry(redact(f"{type(exc).__name__}: {detail}", secrets))


def _url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that may be credentials: userinfo, path tokens, the query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return (url,)
    found = [url]
    if parts.password:
        found.append(parts.password)
    if parts.query:
        found.append(parts.query)
    found += [segment for segment in parts.path.split("/") if len(segment) >= 16]
    return tuple(found)
