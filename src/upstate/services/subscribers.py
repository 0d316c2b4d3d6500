"""Status page subscribers: who hears about a page's incidents and maintenance, and how.

A visitor subscribes an email address or a webhook URL to a whole page or to some of its
components. Email is double opt-in: the subscriber starts unconfirmed and is sent a
subscription.confirm mail (an outbox row for "subscriber:<id>") whose link confirms it;
only confirmed subscribers are in an `audience`. A webhook is confirmed at once, but its
URL must not point inside the network (a visitor must not make Upstate POST to internal
services) unless `allow_private` (the admin API, tests with loopback receivers).

Subscribing again is idempotent and says nothing about what was there: an unconfirmed
email is sent its confirmation again, at most once per RESEND_AFTER. Webhook URLs are
stored encrypted (they often embed a token) and never shown: views give their host only.

The delivery loop turns a "subscriber:<id>" outbox row into a channel with `channel_for`:
an email channel that carries the unsubscribe link (List-Unsubscribe), or a webhook
channel to the decrypted URL with the same link in a List-Unsubscribe header.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import secrets as random
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from pydantic import SecretStr

from upstate.config.models import UpstateConfig
from upstate.config.notifications import Channel, WebhookChannel
from upstate.config.pages import StatusPage
from upstate.errors import NotFound, UsageError
from upstate.notify.email import SubscriberEmailChannel
from upstate.notify.events import Event, EventKind, Link, idempotency_key
from upstate.services.secrets import SecretBox, SecretKeyError
from upstate.store import outbox
from upstate.store import subscribers as store
from upstate.store.db import Db
from upstate.store.subscribers import NewSubscriber, Subscriber

logger = logging.getLogger(__name__)

KINDS = ("email", "webhook")
RESEND_AFTER = timedelta(minutes=10)
MAX_EMAIL_LENGTH = 254
MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT = 3.0  # seconds to resolve a webhook's host name

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_INTERNAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")


@dataclass(frozen=True, slots=True)
class SubscriberView:
    """A subscriber as the admin API shows it: an email address, or a webhook's host only."""

    id: int
    page: str
    kind: str
    email: str | None
    webhook_host: str | None
    components: tuple[str, ...]
    confirmed: bool
    confirmed_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriberPage:
    items: list[SubscriberView]
    next_cursor: str | None  # pass back as `cursor` for the next page


# --- subscribing -----------------------------------------------------------------------


async def subscribe(
    session: Db,
    page: str,
    kind: str,
    address: str,
    components: Sequence[str],
    *,
    config: UpstateConfig,
    secrets: SecretBox,
    now: datetime,
    base_url: str,
    allow_private: bool = False,
    confirmed: bool = False,
) -> Subscriber:
    """Subscribe `address` to `page` (all of it when `components` is empty).

    Raises NotFound for a page not in `config`, UsageError for a bad kind, address or
    component. `confirmed` skips the opt-in (the admin API). Returns the subscriber,
    new or as it was; the caller must answer the same either way."""
    status_page = find_page(config, page)
    codes = _component_codes(status_page, components)
    if kind == "email":
        plain = _valid_email(address)
        stored, address_hash = plain, _hash("email", plain.lower())
    elif kind == "webhook":
        plain = await _valid_webhook_url(address, allow_private=allow_private)
        stored, address_hash = secrets.encrypt(plain), _hash("webhook", plain)
    else:
        raise UsageError(f"a subscriber's kind is one of {', '.join(KINDS)}")
    new = NewSubscriber(
        page=page,
        kind=kind,
        address=stored,
        address_hash=address_hash,
        components=codes,
        token=random.token_urlsafe(32),
        confirmed_at=now if confirmed or kind == "webhook" else None,
    )
    subscriber, inserted = await store.add_or_get(session, new, now)
    if not inserted:
        if subscriber.confirmed:
            return subscriber  # a confirmed choice changes only by its owner unsubscribing
        if confirmed:
            await store.confirm(session, subscriber.id, now)
        await store.set_components(session, subscriber.id, codes)
        subscriber = await _get(session, subscriber.id)
    else:
        logger.info("subscriber added id=%s page=%s kind=%s", subscriber.id, page, kind)
    if not subscriber.confirmed:
        await _send_confirmation(session, subscriber, status_page, now=now, base_url=base_url)
    return subscriber


async def confirm(session: Db, token: str, now: datetime) -> Subscriber:
    """Confirm the subscriber of `token` (again is fine). Raises NotFound."""
    subscriber = await store.get_by_token(session, token)
    if subscriber is None:
        raise NotFound("this confirmation link is not valid (any more)")
    if not subscriber.confirmed:
        await store.confirm(session, subscriber.id, now)
        logger.info("subscriber confirmed id=%s page=%s", subscriber.id, subscriber.page)
    return await _get(session, subscriber.id)


async def by_token(session: Db, token: str) -> Subscriber | None:
    return await store.get_by_token(session, token)


async def unsubscribe(session: Db, token: str) -> Subscriber | None:
    """Remove the subscriber of `token`; the one removed, or None (already gone)."""
    subscriber = await store.get_by_token(session, token)
    if subscriber is None:
        return None
    await store.delete_subscriber(session, subscriber.id, outbox.subscriber_target(subscriber.id))
    logger.info("subscriber unsubscribed id=%s page=%s", subscriber.id, subscriber.page)
    return subscriber


# --- the admin API ---------------------------------------------------------------------


async def list_subscribers(
    session: Db,
    *,
    secrets: SecretBox,
    page: str | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> SubscriberPage:
    after = _cursor(cursor)
    rows = await store.list_subscribers(session, page=page, kind=kind, after=after, limit=limit)
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return SubscriberPage([view(row, secrets) for row in rows], next_cursor)


async def get_subscriber(session: Db, subscriber_id: int) -> Subscriber:
    return await _get(session, subscriber_id)


async def delete_subscriber(session: Db, subscriber_id: int) -> None:
    if not await store.delete_subscriber(
        session, subscriber_id, outbox.subscriber_target(subscriber_id)
    ):
        raise NotFound(f"no subscriber has the id {subscriber_id}")
    logger.info("subscriber deleted id=%s", subscriber_id)


def view(subscriber: Subscriber, secrets: SecretBox) -> SubscriberView:
    email = subscriber.address if subscriber.kind == "email" else None
    host = _webhook_host(subscriber, secrets) if subscriber.kind == "webhook" else None
    return SubscriberView(
        id=subscriber.id,
        page=subscriber.page,
        kind=subscriber.kind,
        email=email,
        webhook_host=host,
        components=subscriber.components,
        confirmed=subscriber.confirmed,
        confirmed_at=subscriber.confirmed_at,
        created_at=subscriber.created_at,
    )


# --- the notifier and the delivery loop ------------------------------------------------


async def audience(session: Db, page: str, components: Collection[str]) -> list[int]:
    """Ids of the confirmed subscribers of `page` who hear about something touching
    `components` (codes): those following all of the page, and those following one of
    them. When `components` is empty (nothing named), everyone of the page hears."""
    touched = set(components)
    return [
        subscriber.id
        for subscriber in await store.confirmed_of_page(session, page)
        if not touched or not subscriber.components or touched & set(subscriber.components)
    ]


async def channel_for(
    session: Db, target: str, *, secrets: SecretBox, base_url: str
) -> Channel | None:
    """The channel to send a "subscriber:<id>" outbox row through; None when the target
    is not a subscriber's or the subscriber is gone (unsubscribed, deleted).

    Raises SecretKeyError when a webhook URL cannot be decrypted (the wrong key)."""
    subscriber_id = subscriber_id_of(target)
    if subscriber_id is None:
        return None
    subscriber = await store.get(session, subscriber_id)
    if subscriber is None:
        return None
    key = f"subscriber-{subscriber.id}"
    unsubscribe_url = _absolute(base_url, unsubscribe_path(subscriber))
    if subscriber.kind == "email":
        return SubscriberEmailChannel(
            key=key, to=(subscriber.address,), unsubscribe_url=unsubscribe_url
        )
    return WebhookChannel(
        key=key,
        url=secrets.decrypt(subscriber.address),
        headers={"List-Unsubscribe": SecretStr(f"<{unsubscribe_url}>")},
    )


def subscriber_id_of(target: str) -> int | None:
    prefix, _, rest = target.partition(outbox.SUBSCRIBER_PREFIX)
    if prefix or not rest.isdigit():
        return None
    return int(rest)


def confirm_path(subscriber: Subscriber) -> str:
    return f"/s/{quote(subscriber.page)}/confirm/{subscriber.token}"


def unsubscribe_path(subscriber: Subscriber) -> str:
    return f"/s/{quote(subscriber.page)}/unsubscribe/{subscriber.token}"


def find_page(config: UpstateConfig, slug: str) -> StatusPage:
    for page in config.status_pages:
        if page.slug == slug:
            return page
    raise NotFound(f"no status page has the slug {slug!r}")


# --- helpers ---------------------------------------------------------------------------


async def _get(session: Db, subscriber_id: int) -> Subscriber:
    subscriber = await store.get(session, subscriber_id)
    if subscriber is None:
        raise NotFound(f"no subscriber has the id {subscriber_id}")
    return subscriber


async def _send_confirmation(
    session: Db, subscriber: Subscriber, page: StatusPage, *, now: datetime, base_url: str
) -> None:
    """Queue the confirmation mail, unless one was queued less than RESEND_AFTER ago."""
    target = outbox.subscriber_target(subscriber.id)
    kind = EventKind.SUBSCRIPTION_CONFIRM
    last = await store.last_queued_at(session, target, kind.value, subscriber.created_at)
    if last is not None and now - last < RESEND_AFTER:
        return
    event = Event(
        kind=kind,
        occurred_at=now,
        idempotency_key=idempotency_key(f"subscription-confirm:{now.isoformat()}", target),
        title=f"Confirm your subscription to {page.title}",
        summary=(
            f"Someone, hopefully you, asked to be told by email about incidents and "
            f"maintenance on the {page.title} status page. Confirm with the link below. "
            "If it was not you, ignore this mail: nothing more is sent without confirmation."
        ),
        links=(Link(_absolute(base_url, confirm_path(subscriber)), "Confirm subscription"),),
    )
    await outbox.add_many(
        session,
        [outbox.NewNotification(event.idempotency_key, target, kind.value, event.to_dict())],
        now,
    )


def _component_codes(page: StatusPage, components: Sequence[str]) -> tuple[str, ...]:
    """The codes of `components`, each given as its code or its key within the page."""
    known = [placed.code for placed in page.placed_components()]
    codes: list[str] = []
    for given in components:
        code = given if given in known else f"{page.slug}.{given}"
        if code not in known:
            raise UsageError(f"the page {page.slug!r} has no component {given!r}")
        if code not in codes:
            codes.append(code)
    return tuple(sorted(codes, key=known.index))


def _valid_email(address: str) -> str:
    """The address, trimmed; it must look like one (the message does not repeat it)."""
    text = address.strip()
    if len(text) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(text):
        raise UsageError("this is not a valid email address")
    return text


async def _valid_webhook_url(address: str, *, allow_private: bool) -> str:
    """An http(s) URL with a host; unless `allow_private`, a host that is and resolves to
    public addresses only. Messages never repeat the URL (it may carry a token)."""
    url = address.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError("this is not a valid webhook URL") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(url) > MAX_URL_LENGTH
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
    ):
        raise UsageError("a webhook URL must be an http:// or https:// URL with a host")
    if not allow_private:
        await _check_public(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    return url


async def _check_public(host: str, port: int) -> None:
    refused = UsageError("a webhook URL must point to a public address, not a private network")
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(_INTERNAL_NAMES):
        raise refused
    try:
        addresses = [ipaddress.ip_address(name)]
    except ValueError:
        addresses = await _resolve(name, port)
    if not all(_is_public(address) for address in addresses):
        raise refused


async def _resolve(name: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        raise UsageError("the webhook URL's host name does not resolve") from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not found:
        raise UsageError("the webhook URL's host name does not resolve")
    return found


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _is_public(mapped)
    return address.is_global and not address.is_multicast


def _hash(kind: str, address: str) -> str:
    return hashlib.sha256(f"upstate subscriber\0{kind}\0{address}".encode()).hexdigest()


def _absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _webhook_host(subscriber: Subscriber, secrets: SecretBox) -> str | None:
    try:
        return urlsplit(secrets.decrypt(subscriber.address)).hostname
    except (SecretKeyError, ValueError):
        return None


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise UsageError("the cursor is not one this API gave")
    return int(cursor)
