"""Webhook channel: the event as JSON, POSTed and (with a secret) signed.

Body: {event, occurred_at, monitor, incident, observation, maintenance, title, summary,
reason, links, id}; absent facts are null. Headers: `X-Upstate-Event`, `Idempotency-Key`
(also `id` in the body), `User-Agent: Upstate/<version>` and, when the channel has a
secret, `X-Upstate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
The timestamp inside the signed text lets a receiver refuse a replayed request
(`verify_signature`, with a tolerance); several `v1=` may appear while a secret rotates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from upstate.config.notifications import WebhookChannel
from upstate.notify.base import NotifyContext
from upstate.notify.delivery import Delivery
from upstate.notify.events import Event, format_time
from upstate.notify.transport import post

SIGNATURE_HEADER = "X-Upstate-Signature"
DEFAULT_TOLERANCE = 300.0


def payload(event: Event, ctx: NotifyContext) -> dict[str, Any]:
    data = event.to_dict()
    return {
        "event": event.kind.value,
        "occurred_at": format_time(event.occurred_at),
        "monitor": data["monitor"],
        "incident": data["incident"],
        "observation": data["observation"],
        "maintenance": data["maintenance"],
        "title": event.title or None,
        "summary": event.summary or None,
        "reason": event.reason,
        "links": [
            {"href": href, "text": link.text}
            for link in event.links
            if (href := ctx.absolute(link.href))
        ],
        "id": event.idempotency_key,
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Upstate-Signature value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: datetime,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """True when `header` signs exactly `body` with `secret`, at most `tolerance` seconds
    away from `now`. For receivers: pass the raw body, before any JSON parsing."""
    if not header:
        return False
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if abs(now.timestamp() - timestamp) > tolerance:
        return False
    expected = _digest(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


async def send(channel: WebhookChannel, event: Event, ctx: NotifyContext) -> Delivery:
    body = encode(payload(event, ctx))
    ours = {
        "Content-Type": "application/json",
        "X-Upstate-Event": event.kind.value,
        "Idempotency-Key": event.idempotency_key,
    }
    reserved = {name.lower() for name in (*ours, SIGNATURE_HEADER)}
    # The channel's own headers (an Authorization, say) are secrets; they never replace ours.
    secrets = [value.get_secret_value() for value in channel.headers.values()]
    headers = {
        name: value.get_secret_value()
        for name, value in channel.headers.items()
        if name.lower() not in reserved
    }
    headers |= ours
    if channel.secret is not None:
        secret = channel.secret.get_secret_value()
        secrets.append(secret)
        headers[SIGNATURE_HEADER] = sign(secret, body, int(ctx.clock().timestamp()))
    reply = await post(ctx, channel.url, body, headers, tuple(secrets))
    return reply.delivery
