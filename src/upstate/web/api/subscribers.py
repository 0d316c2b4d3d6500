"""/api/v1/subscribers: list (paged), read, add, delete status page subscribers.

What the API shows of a subscriber is its email address, or only the host of its webhook:
webhook URLs often embed a token and are stored encrypted. An admin may add a subscriber
already confirmed (`confirmed: true`, e.g. one moved from another tool), and may add
webhooks on private addresses, which the public subscribe form refuses.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from upstate.services import subscribers
from upstate.services.subscribers import SubscriberPage, SubscriberView
from upstate.web.deps import BaseUrl, Now, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1", tags=["subscribers"])

MAX_PAGE = 500


class NewSubscriberBody(BaseModel):
    page: str = Field(description="The status page's slug.")
    kind: Literal["email", "webhook"]
    address: str = Field(description="An email address, or an http(s) webhook URL.")
    components: list[str] = Field(
        default_factory=list,
        description="Component codes (or keys) of the page; empty: all of the page.",
    )
    confirmed: bool = Field(
        default=False, description="Skip the confirmation mail (double opt-in) for email."
    )


@router.get("/subscribers")
async def list_subscribers(
    session: ReadSession,
    state: State,
    page: str | None = None,
    kind: Literal["email", "webhook"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> SubscriberPage:
    """In the order they were added; pass `next_cursor` back as `cursor` for more."""
    return await subscribers.list_subscribers(
        session, secrets=state.secrets, page=page, kind=kind, cursor=cursor, limit=limit
    )


@router.post("/subscribers", status_code=201)
async def add_subscriber(
    body: NewSubscriberBody,
    session: WriteSession,
    state: State,
    now: Now,
    base_url: BaseUrl,
) -> SubscriberView:
    """Adds one, or answers the one that has this address already. An unconfirmed email
    subscriber is sent the confirmation mail."""
    subscriber = await subscribers.subscribe(
        session,
        body.page,
        body.kind,
        body.address,
        body.components,
        config=state.live.config,
        secrets=state.secrets,
        now=now,
        base_url=base_url,
        allow_private=True,
        confirmed=body.confirmed,
    )
    await session.commit()
    state.notifier.wake()
    return subscribers.view(subscriber, state.secrets)


@router.get("/subscribers/{subscriber_id}")
async def get_subscriber(subscriber_id: int, session: ReadSession, state: State) -> SubscriberView:
    subscriber = await subscribers.get_subscriber(session, subscriber_id)
    return subscribers.view(subscriber, state.secrets)


@router.delete("/subscribers/{subscriber_id}", status_code=204)
async def delete_subscriber(subscriber_id: int, session: WriteSession) -> Response:
    await subscribers.delete_subscriber(session, subscriber_id)
    return Response(status_code=204)
