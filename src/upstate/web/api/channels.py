"""/api/v1/channels: the configured channels' health, "send a test", and "resume".

Channels come from the running config (the notifier's); their health from the delivery
loop's records. Nothing here shows a URL, routing key, header value or password: a
channel is its key, kind, name and state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from upstate.services import delivery
from upstate.services.delivery import ChannelView, NotificationView
from upstate.web.deps import NotifierDep, Now, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1", tags=["channels"])

MAX_WAIT_S = 30.0


class ChannelList(BaseModel):
    items: list[ChannelView]


@router.get("/channels")
async def list_channels(session: ReadSession, notifier: NotifierDep) -> ChannelList:
    """Every configured channel: failing or not, the last error and success, rows pending."""
    return ChannelList(items=await delivery.channel_views(session, notifier.config.channels))


@router.get("/channels/{key}")
async def get_channel(key: str, session: ReadSession, notifier: NotifierDep) -> ChannelView:
    return await delivery.channel_view(session, notifier.config.channels, key)


@router.post(
    "/channels/{key}/test",
    status_code=202,
    responses={200: {"description": "Done within `wait`: its outcome."}},
)
async def send_test(
    key: str,
    session: WriteSession,
    state: State,
    notifier: NotifierDep,
    now: Now,
    response: Response,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> NotificationView:
    """Queue a test notification for the channel and wake the delivery loop. With `wait`
    (seconds, up to 30): answer 200 with the outcome once it is done (sent, skipped or
    failed), or 202 with the row as it stands when the time is up (pending: its error
    says why). Without: 202 and the queued row (its id and idempotency key)."""
    queued = await delivery.queue_test(session, notifier.config.channels, key, now)
    await session.commit()
    notifier.wake()
    view = await delivery.wait_done(state.sessions, queued.id, wait)
    if view.state != "pending":
        response.status_code = 200
    return view


@router.post("/channels/{key}/resume")
async def resume_channel(key: str, session: WriteSession, notifier: NotifierDep) -> ChannelView:
    """Clear the channel's failing mark: its waiting notifications are sent again with the
    config as it is."""
    await delivery.resume(session, notifier.config.channels, key)
    await session.commit()
    notifier.wake()
    return await delivery.channel_view(session, notifier.config.channels, key)
