"""`upstate incident …` against a real app served by uvicorn on 127.0.0.1 (in this process).

The command is synchronous (httpx.Client), so it runs in a thread while the server
answers on the test's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from tests.fixtures.db import TestDatabase
from tests.services.test_incidents import PAGES, RecordingNotifier
from tests.targets.tcp import free_port
from tests.web.conftest import Clock, LoopbackEngine
from upstate.cli import incident
from upstate.config import Settings
from upstate.config.loader import load_config_text
from upstate.services.live import LiveConfig
from upstate.services.secrets import SecretBox
from upstate.web.app import create_app

TOKEN = "s3cret-token"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns the signals
        yield


@dataclass
class Served:
    url: str
    notifier: RecordingNotifier


@pytest.fixture
async def served(db: TestDatabase) -> AsyncIterator[Served]:
    notifier = RecordingNotifier()
    box = SecretBox.from_text(SecretBox.new_key())
    port = free_port()
    app = create_app(
        settings=Settings(_env_file=None, database_url=db.url, api_token=TOKEN),
        session_factory=db.sessions,
        engine=LoopbackEngine(db.sessions, box),
        registry=CollectorRegistry(),
        secrets=box,
        clock=Clock(),
        live=LiveConfig(load_config_text(PAGES)),
        notifier=notifier,
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, loop="none")
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{port}", notifier)
    finally:
        server.should_exit = True
        await task


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="upstate")
    incident.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def upstate(argv: list[str], token: str | None = TOKEN) -> int:
    settings = Settings(_env_file=None, api_token=token)
    return await asyncio.to_thread(incident.run, parse(argv), settings)


async def test_it_opens_updates_and_resolves_an_incident(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", served.url]
    code = await upstate(
        ["incident", "open", *url, "--title", "API errors", "--impact", "major",
         "--component", "main.api=major_outage", "--message", "Looking into it"]
    )  # fmt: skip
    out = capsys.readouterr().out.split()
    assert code == 0
    incident_id, status = out
    assert status == "investigating"
    code = await upstate(
        ["incident", "update", incident_id, *url, "--status", "identified",
         "--message", "A bad deploy", "--component", "main.api=partial_outage"]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == f"{incident_id} identified\n"
    assert await upstate(["incident", "resolve", incident_id, *url]) == 0
    assert capsys.readouterr().out == f"{incident_id} resolved\n"

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        stored = (await client.get(f"{served.url}/api/v1/incidents/{incident_id}")).json()
    assert stored["impact"] == "major"
    assert [u["status"] for u in stored["updates"]] == ["investigating", "identified", "resolved"]
    assert stored["updates"][0]["body"] == "Looking into it"
    assert stored["components"] == [{"code": "main.api", "name": "API", "status": "operational"}]
    assert len(served.notifier.incidents) == 3


async def test_it_finds_the_server_through_upstate_url(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTATE_URL", served.url + "/")
    code = await upstate(["incident", "open", "--title", "Docs", "--page", "docs", "--draft"])
    assert code == 0
    assert capsys.readouterr().out.endswith(" investigating\n")
    assert served.notifier.incidents[0][3] is True  # a draft


async def test_it_exits_1_with_the_servers_reason(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", served.url]
    code = await upstate(
        ["incident", "open", *url, "--title", "X", "--component", "main.nope=major_outage"]
    )
    assert code == 1
    assert "400: unknown component main.nope" in capsys.readouterr().err
    assert await upstate(["incident", "resolve", "nope", *url]) == 1
    assert "404: no incident has the id 'nope'" in capsys.readouterr().err
    assert await upstate(["incident", "resolve", "nope", *url], token="wrong") == 1
    err = capsys.readouterr().err
    assert "401" in err
    assert "wrong" not in err
    assert TOKEN not in err


async def test_it_exits_1_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert await upstate(["incident", "resolve", "abc", "--url", url]) == 1
    assert f"cannot reach {url}" in capsys.readouterr().err


def test_it_refuses_malformed_options(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["incident", "open", "--title", "X", "--component", "main.api"],
        ["incident", "open", "--title", "X", "--component", "main.api=down"],
        ["incident", "open", "--title", "X", "--status", "fixed"],
        ["incident", "update", "abc", "--status", "identified"],  # --message is required
    ):
        with pytest.raises(SystemExit) as exited:
            parse(argv)
        assert exited.value.code == 2
    assert "expected CODE=STATUS" in capsys.readouterr().err
