"""`upstate notify test KEY` against the real app (with its delivery loop) and a real
webhook receiver; the HTTP hop to the app is ASGI, the one to the receiver is TCP."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable, Mapping

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from tests.fixtures.db import TestDatabase
from tests.targets.http import Response
from tests.targets.receivers import Inbox
from tests.targets.tcp import free_port
from tests.web.conftest import LoopbackEngine
from upstate.cli import notify
from upstate.config import Settings
from upstate.config.notifications import Channel, WebhookChannel
from upstate.errors import UsageError
from upstate.notify.base import NotifyContext, http_client
from upstate.scheduler.delivery import DeliveryLoop
from upstate.services.delivery import Deliverer
from upstate.services.notifier import Notifier, NotifyConfig
from upstate.services.secrets import SecretBox
from upstate.web.app import create_app

TOKEN = "cli-token-123"


@pytest.fixture
async def serve(db: TestDatabase) -> AsyncIterator[Callable[[str], httpx.ASGITransport]]:
    """The app with one webhook channel "hook" at `url`, its delivery loop running."""
    loops: list[DeliveryLoop] = []
    async with http_client(verify=False) as http:

        def start(url: str) -> httpx.ASGITransport:
            channels: Mapping[str, Channel] = {
                "hook": WebhookChannel.model_validate({"key": "hook", "url": url})
            }

            async def resolve(target: str) -> Channel | None:
                return channels.get(target)

            loop = DeliveryLoop(Deliverer(db.sessions, resolve, NotifyContext(http=http)))
            loop.start()
            loops.append(loop)
            box = SecretBox.from_text(SecretBox.new_key())
            app: FastAPI = create_app(
                settings=Settings(_env_file=None, database_url=db.url, api_token=TOKEN),
                session_factory=db.sessions,
                engine=LoopbackEngine(db.sessions, box),
                registry=CollectorRegistry(),
                secrets=box,
                notifier=Notifier(NotifyConfig(channels=channels), states=dict, wake=loop.wake),
            )
            return httpx.ASGITransport(app=app)

        yield start
        for loop in loops:
            await loop.stop()


async def test_it_prints_the_delivery_and_exits_0(
    serve: Callable[[str], httpx.ASGITransport],
    webhook_receiver: Callable[..., Inbox],
    capsys: pytest.CaptureFixture[str],
) -> None:
    inbox = webhook_receiver()
    transport = serve(inbox.url)

    code = await notify.notify_test(
        "hook", url="http://upstate.test", token=TOKEN, wait=10, transport=transport
    )

    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith("hook: sent (status 200), notification ")
    (body,) = inbox.bodies()
    assert body["event"] == "test"
    assert body["id"] in out


async def test_it_prints_the_error_and_exits_1_when_the_channel_refuses(
    serve: Callable[[str], httpx.ASGITransport],
    webhook_receiver: Callable[..., Inbox],
    capsys: pytest.CaptureFixture[str],
) -> None:
    inbox = webhook_receiver(Response(403, b"forbidden"))
    transport = serve(inbox.url)

    code = await notify.notify_test(
        "hook", url="http://upstate.test", token=TOKEN, wait=10, transport=transport
    )

    out, err = capsys.readouterr()
    assert code == 1
    assert out.startswith("hook: failed (status 403)")
    assert "HTTP 403: forbidden" in err


async def test_it_says_why_when_the_server_says_no(
    serve: Callable[[str], httpx.ASGITransport], webhook_receiver: Callable[..., Inbox]
) -> None:
    transport = serve(webhook_receiver().url)

    with pytest.raises(UsageError, match="HTTP 404: no channel has the key 'nope'"):
        await notify.notify_test(
            "nope", url="http://upstate.test", token=TOKEN, wait=1, transport=transport
        )
    with pytest.raises(UsageError, match="HTTP 401"):
        await notify.notify_test(
            "hook", url="http://upstate.test", token="wrong", wait=1, transport=transport
        )


def test_run_names_the_server_it_could_not_reach() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    args = argparse.Namespace(key="hook", url=url, wait=1.0)

    with pytest.raises(UsageError, match=f"cannot reach Upstate at {url}: ConnectError"):
        notify.run(args, Settings(_env_file=None, api_token="t"))


def test_the_url_comes_from_the_flag_then_upstate_url_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parser = argparse.ArgumentParser()
    notify.configure(parser)

    args = parser.parse_args(["hook", "--wait", "5"])

    assert (args.key, args.url, args.wait) == ("hook", None, 5.0)
    monkeypatch.setenv("UPSTATE_URL", "https://up.example")
    assert notify.default_url(Settings(_env_file=None)) == "https://up.example"
    monkeypatch.delenv("UPSTATE_URL")
    assert notify.default_url(Settings(_env_file=None)) == "http://127.0.0.1:8080"
    with pytest.raises(UsageError, match="--wait"):
        notify.run(
            argparse.Namespace(key="hook", url="http://x", wait=31.0), Settings(_env_file=None)
        )
