from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.db import TestDatabase
from upstate.config.loader import load_config_text
from upstate.config.models import UpstateConfig
from upstate.domain.enums import ComponentStatus
from upstate.domain.incidents import Impact, Incident, IncidentStatus
from upstate.domain.maintenance import MaintenanceNotice, MaintenanceWindow
from upstate.errors import Conflict, NotFound, UsageError
from upstate.notify.events import EventKind
from upstate.services import incidents
from upstate.services.notifier import Notifier, NotifyConfig
from upstate.store import outbox
from upstate.store.db import Db
from upstate.store.outbox import NewNotification

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
PAGES = """
monitors:
  - {key: api, kind: http, url: "http://127.0.0.1:9/"}
status_pages:
  - slug: main
    title: Main
    components:
      - {name: API, monitors: [api]}
      - {name: Website}
  - slug: docs
    title: Docs
    components:
      - {name: Docs site}
"""
MAJOR = ComponentStatus.MAJOR_OUTAGE


class RecordingNotifier(Notifier):
    """Records what it is told and writes one outbox row per call through the session it
    is handed, so a test can see whether the notification shares the change's transaction."""

    def __init__(self) -> None:
        super().__init__(NotifyConfig(), states=dict, wake=self._woken)
        self.incidents: list[tuple[str, EventKind, int, bool]] = []
        self.notices: list[MaintenanceNotice] = []
        self.wakes = 0

    def _woken(self) -> None:
        self.wakes += 1

    async def incident_changed(
        self, session: Db, incident: Incident, kind: EventKind, now: datetime
    ) -> None:
        self.incidents.append((incident.id, kind, len(incident.updates), incident.draft))
        key = f"test:{incident.id}:{len(incident.updates)}:{kind.value}"
        await _row(session, key, kind.value, now)

    async def maintenance_notice(
        self, session: Db, notice: MaintenanceNotice, now: datetime, *, window: MaintenanceWindow
    ) -> None:
        assert window.key == notice.window
        self.notices.append(notice)
        await _row(session, f"test:{notice.key}", notice.kind.value, now)


async def _row(session: Db, key: str, kind: str, now: datetime) -> None:
    await outbox.add_many(session, [NewNotification(key, "test", kind, {"kind": kind})], now)


async def outbox_keys(session: Db) -> list[str]:
    return [row.idempotency_key for row in await outbox.list_rows(session)]


@pytest.fixture
def config() -> UpstateConfig:
    return load_config_text(PAGES)


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


async def open_one(
    session: AsyncSession,
    notifier: Notifier,
    config: UpstateConfig,
    *,
    components: Mapping[str, ComponentStatus] | None = None,
    **values: object,
) -> Incident:
    return await incidents.open_incident(
        session,
        notifier,
        config,
        NOW,
        title=str(values.pop("title", "API errors")),
        components=components if components is not None else {"main.api": MAJOR},
        **values,  # type: ignore[arg-type]
    )


async def test_it_opens_an_incident_on_the_pages_of_its_components(
    session: AsyncSession, notifier: RecordingNotifier, config: UpstateConfig
) -> None:
    incident = await open_one(session, notifier, config, impact=Impact.MAJOR, message="Looking")
    assert incident.pages == ("main",)
    assert incident.status is IncidentStatus.INVESTIGATING
    assert incident.components == {"main.api": MAJOR}
    assert incident.updates[0].affected_components[0].name == "API"
    assert await incidents.get(session, incident.id) == incident
    assert notifier.incidents == [(incident.id, EventKind.INCIDENT_OPENED, 1, False)]

    both = await open_one(
        session, notifier, config, pages=["docs"], components={"main.website": MAJOR}
    )
    assert both.pages == ("docs", "main")
    bare = await open_one(session, notifier, config, pages=["docs"], components={})
    assert bare.pages == ("docs",)
    assert bare.components == {}


async def test_it_refuses_what_the_config_does_not_know(
    session: AsyncSession, notifier: RecordingNotifier, config: UpstateConfig
) -> None:
    with pytest.raises(UsageError, match=r"unknown component main\.nope"):
        await open_one(session, notifier, config, components={"main.nope": MAJOR})
    with pytest.raises(UsageError, match="unknown status page elsewhere"):
        await open_one(session, notifier, config, pages=["elsewhere"])
    with pytest.raises(UsageError, match="name a page or a component"):
        await open_one(session, notifier, config, components={})
    with pytest.raises(UsageError, match="title"):
        await open_one(session, notifier, config, title="   ")
    with pytest.raises(UsageError, match="postmortem"):
        await open_one(session, notifier, config, status=IncidentStatus.POSTMORTEM)
    assert notifier.incidents == []
    assert await incidents.list_incidents(session) == []


async def test_the_notification_shares_the_transaction(
    db: TestDatabase, notifier: RecordingNotifier, config: UpstateConfig
) -> None:
    async with db.sessions() as session:
        dropped = await open_one(session, notifier, config)
        assert len(await outbox_keys(session)) == 1
        await session.rollback()
    async with db.sessions() as session:
        kept = await open_one(session, notifier, config)
        await incidents.post_update(
            session, notifier, config, NOW, kept.id, status=IncidentStatus.MONITORING, message="ok"
        )
        await session.commit()
    async with db.sessions() as session:
        assert await incidents.get(session, kept.id) is not None
        with pytest.raises(NotFound):
            await incidents.get(session, dropped.id)
        assert sorted(await outbox_keys(session)) == [
            f"test:{kept.id}:1:incident.opened",
            f"test:{kept.id}:2:incident.updated",
        ]


async def test_it_posts_updates_and_resolves(
    session: AsyncSession, notifier: RecordingNotifier, config: UpstateConfig
) -> None:
    incident = await open_one(session, notifier, config)
    later = NOW + timedelta(minutes=10)
    identified = await incidents.post_update(
        session,
        notifier,
        config,
        later,
        incident.id,
        status=IncidentStatus.IDENTIFIED,
        message="A bad deploy",
        components={"main.api": ComponentStatus.PARTIAL_OUTAGE, "main.website": MAJOR},
    )
    affected = identified.updates[-1].affected_components
    assert [(a.code, a.old_status, a.new_status) for a in affected] == [
        ("main.api", MAJOR, ComponentStatus.PARTIAL_OUTAGE),
        ("main.website", ComponentStatus.OPERATIONAL, MAJOR),
    ]
    resolved = await incidents.post_update(
        session, notifier, config, later + timedelta(minutes=20), incident.id,
        status=IncidentStatus.RESOLVED, message="",
    )  # fmt: skip
    assert resolved.status is IncidentStatus.RESOLVED
    assert resolved.resolved_at == NOW + timedelta(minutes=30)
    assert resolved.updates[-1].body == incidents.RESOLVED_BODY
    assert set(resolved.components.values()) == {ComponentStatus.OPERATIONAL}
    note = await incidents.post_update(
        session, notifier, config, later + timedelta(hours=1), incident.id,
        status=IncidentStatus.POSTMORTEM, message="What happened",
    )  # fmt: skip
    assert note.status is IncidentStatus.POSTMORTEM
    assert note.resolved_at == resolved.resolved_at
    assert [kind for _, kind, _, _ in notifier.incidents] == [
        EventKind.INCIDENT_OPENED,
        EventKind.INCIDENT_UPDATED,
        EventKind.INCIDENT_RESOLVED,
        EventKind.INCIDENT_UPDATED,
    ]
    with pytest.raises(Conflict, match="postmortem"):
        await incidents.post_update(
            session, notifier, config, later, incident.id,
            status=IncidentStatus.INVESTIGATING, message="again?",
        )  # fmt: skip
    with pytest.raises(NotFound):
        await incidents.post_update(
            session, notifier, config, later, "nope", status=IncidentStatus.RESOLVED, message=""
        )
    assert len(notifier.incidents) == 4
    stored = await incidents.get(session, incident.id)
    assert len(stored.updates) == 4


async def test_publishing_a_draft_tells_it_as_opened(
    session: AsyncSession, notifier: RecordingNotifier, config: UpstateConfig
) -> None:
    draft = await open_one(session, notifier, config, draft=True)
    assert notifier.incidents == [(draft.id, EventKind.INCIDENT_OPENED, 1, True)]
    renamed = await incidents.patch(
        session, notifier, NOW, draft.id, title="API is slow", impact=Impact.MINOR
    )
    assert (renamed.title, renamed.impact, renamed.draft) == ("API is slow", Impact.MINOR, True)
    assert len(notifier.incidents) == 1
    published = await incidents.patch(session, notifier, NOW, draft.id, draft=False)
    assert published.draft is False
    assert notifier.incidents[-1] == (draft.id, EventKind.INCIDENT_OPENED, 1, False)
    stored = await incidents.get(session, draft.id)
    assert (stored.title, stored.draft) == ("API is slow", False)
    with pytest.raises(Conflict, match="draft"):
        await incidents.patch(session, notifier, NOW, draft.id, draft=True)
    unchanged = await incidents.patch(session, notifier, NOW, draft.id, draft=False)
    assert unchanged == stored
    assert len(notifier.incidents) == 2


async def test_it_lists_with_filters(
    session: AsyncSession, notifier: RecordingNotifier, config: UpstateConfig
) -> None:
    first = await open_one(session, notifier, config)
    await incidents.post_update(
        session, notifier, config, NOW, first.id, status=IncidentStatus.RESOLVED, message=""
    )
    draft = await incidents.open_incident(
        session, notifier, config, NOW + timedelta(minutes=1), title="Docs down",
        pages=["docs"], draft=True,
    )  # fmt: skip

    async def ids(**filters: object) -> list[str]:
        return [i.id for i in await incidents.list_incidents(session, **filters)]  # type: ignore[arg-type]

    assert await ids() == [draft.id, first.id]
    assert await ids(status="open") == [draft.id]
    assert await ids(status="resolved") == [first.id]
    assert await ids(page="main") == [first.id]
    assert await ids(draft=False) == [first.id]
    assert await ids(since=NOW + timedelta(seconds=1)) == [draft.id]
    assert await ids(before=NOW + timedelta(seconds=1)) == [first.id]
    assert await ids(limit=1, offset=1) == [first.id]


async def test_its_view_renders_markdown_safely(
    session: AsyncSession, notifier: RecordingNotifier, config: UpstateConfig
) -> None:
    body = "<script>alert(1)</script> **fixed** [x](javascript:alert(1))"
    incident = await open_one(session, notifier, config, message=body)
    view = incidents.view_of(incident, config, NOW + timedelta(minutes=5))
    update = view.updates[0]
    assert update.body == body
    assert "<script>" not in update.body_html
    assert "&lt;script&gt;" in update.body_html
    assert "<strong>fixed</strong>" in update.body_html
    assert "javascript:" not in update.body_html.replace("[x](javascript:alert(1))", "")
    assert "href" not in update.body_html
    assert view.duration_s == 300.0
    assert [(c.code, c.name, c.status) for c in view.components] == [("main.api", "API", MAJOR)]
