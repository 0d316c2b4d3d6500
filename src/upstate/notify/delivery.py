"""What became of one send: delivered, worth another try, or hopeless until someone acts.

A channel never raises for a remote failure; it classifies it here, so the outbox only has
to read `outcome`: RETRY with backoff (sooner than `retry_after` never), PERMANENT marks
the channel failing with `error` shown to its owner. Error texts pass through `redact`
first, because servers echo what they were sent and exceptions quote what they were given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

MAX_ERROR_CHARS = 300


class Outcome(StrEnum):
    OK = "ok"
    SKIPPED = "skipped"  # this channel carries no such event (e.g. maintenance to PagerDuty)
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Delivery:
    outcome: Outcome
    error: str | None = None
    retry_after: float | None = None  # seconds the remote asked us to wait, if it said
    status_code: int | None = None  # the HTTP or SMTP reply code, when there was one
    remote_id: str | None = None  # what the remote calls it: a dedup_key, a Message-ID
    detail: str | None = None  # a remark on success, e.g. recipients refused among several

    @classmethod
    def ok(
        cls, *, status_code: int | None = None, remote_id: str | None = None, detail: str = ""
    ) -> Delivery:
        return cls(Outcome.OK, status_code=status_code, remote_id=remote_id, detail=detail or None)

    @classmethod
    def skipped(cls, reason: str) -> Delivery:
        return cls(Outcome.SKIPPED, detail=reason)

    @classmethod
    def retry(
        cls, error: str, *, after: float | None = None, status_code: int | None = None
    ) -> Delivery:
        return cls(Outcome.RETRY, error=_clip(error), retry_after=after, status_code=status_code)

    @classmethod
    def permanent(cls, error: str, *, status_code: int | None = None) -> Delivery:
        return cls(Outcome.PERMANENT, error=_clip(error), status_code=status_code)

    @property
    def done(self) -> bool:
        """Nothing more to do for this event on this channel."""
        return self.outcome in (Outcome.OK, Outcome.SKIPPED)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret (longest first, so none survives as part of another) masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def find_cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc` or the first exception of `kind` in its chain of causes, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP date; None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


# Asking again can help: the request timed out, it came too early or too often, or the
# server failed. Every other 4xx means the request or the channel is wrong.
_RETRYABLE_4XX = frozenset({408, 425, 429})


def from_http_status(status: int, *, retry_after: str | None, body: str, now: datetime) -> Delivery:
    """Classify an HTTP answer; `body` is a bounded, already redacted excerpt."""
    if 200 <= status < 300:
        return Delivery.ok(status_code=status)
    excerpt = f": {body}" if body.strip() else ""
    if status in _RETRYABLE_4XX or status >= 500:
        after = parse_retry_after(retry_after, now)
        return Delivery.retry(f"HTTP {status}{excerpt}", after=after, status_code=status)
    if 300 <= status < 400:
        return Delivery.permanent(
            f"HTTP {status}: redirects are not followed; point the channel at the final URL",
            status_code=status,
        )
    return Delivery.permanent(f"HTTP {status}{excerpt}", status_code=status)
