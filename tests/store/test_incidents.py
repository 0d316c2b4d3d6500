from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import NOW
from upstate.domain.enums import ComponentStatus
from upstate.domain.incidents import (
    AffectedComponent,
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    apply_update,
    new_incident,
)
from upstate.store import incidents

OUTAGE = AffectedComponent(
    "main.api", "API", ComponentStatus.OPERATIONAL, ComponentStatus.MAJOR_OUTAGE
)


def opened(
    incident_id: str = "inc1",
    *,
    at: timedelta = timedelta(0),
    draft: bool = False,
    auto: bool = False,
    pages: tuple[str, ...] = ("main",),
) -> Incident:
    first = IncidentUpdate(IncidentStatus.INVESTIGATING, "Looking **into** it", NOW + at, (OUTAGE,))
    return new_incident(
        incident_id,
        f"Incident {incident_id}",
        Impact.MAJOR,
        first,
        draft=draft,
        auto=auto,
        monitors=("api",) if auto else (),
        pages=pages,
    )


def resolve(incident: Incident, after: timedelta = timedelta(minutes=30)) -> Incident:
    back = AffectedComponent(
        "main.api", "API", ComponentStatus.MAJOR_OUTAGE, ComponentStatus.OPERATIONAL
    )
    update = IncidentUpdate(IncidentStatus.RESOLVED, "Fixed", incident.started_at + after, (back,))
    return apply_update(incident, update)


async def test_it_stores_and_reads_an_incident_whole(session: AsyncSession) -> None:
    incident = opened()
    await incidents.insert_incident(session, incident, NOW)
    assert await incidents.get(session, "inc1") == incident
    assert await incidents.get(session, "nope") is None


async def test_it_appends_updates_and_keeps_the_header_current(session: AsyncSession) -> None:
    incident = opened()
    await incidents.insert_incident(session, incident, NOW)
    middle = apply_update(
        incident,
        IncidentUpdate(IncidentStatus.IDENTIFIED, "Found it", NOW + timedelta(minutes=5)),
    )
    await incidents.save(session, middle, NOW)
    done = resolve(middle)
    await incidents.save(session, done, NOW)
    stored = await incidents.get(session, "inc1")
    assert stored == done
    assert stored is not None
    assert [u.status for u in stored.updates] == [
        IncidentStatus.INVESTIGATING,
        IncidentStatus.IDENTIFIED,
        IncidentStatus.RESOLVED,
    ]
    assert stored.resolved_at == NOW + timedelta(minutes=30)
    assert stored.components == {"main.api": ComponentStatus.OPERATIONAL}


async def test_it_refuses_to_shorten_a_timeline_or_save_an_unknown_incident(
    session: AsyncSession,
) -> None:
    incident = opened()
    with pytest.raises(LookupError):
        await incidents.save(session, incident, NOW)
    done = resolve(incident)
    await incidents.insert_incident(session, done, NOW)
    with pytest.raises(ValueError, match="only grows"):
        await incidents.save(session, incident, NOW)


async def test_it_lists_newest_first_with_filters(session: AsyncSession) -> None:
    old = resolve(opened("old", at=timedelta(hours=-3)))
    draft = opened("draft", at=timedelta(hours=-2), draft=True)
    other = opened("other", at=timedelta(hours=-1), pages=("status",))
    now_open = opened("open", auto=True)
    for incident in (old, draft, other, now_open):
        await incidents.insert_incident(session, incident, NOW)

    async def ids(**filters: object) -> list[str]:
        return [i.id for i in await incidents.list_incidents(session, **filters)]  # type: ignore[arg-type]

    assert await ids() == ["open", "other", "draft", "old"]
    assert await ids(open_only=True) == ["open", "other", "draft"]
    assert await ids(resolved_only=True) == ["old"]
    assert await ids(draft=True) == ["draft"]
    assert await ids(draft=False) == ["open", "other", "old"]
    assert await ids(include_drafts=False) == ["open", "other", "old"]
    assert await ids(auto=True) == ["open"]
    assert await ids(page="status") == ["other"]
    assert await ids(page="main", limit=2, offset=1) == ["draft", "old"]
    assert await ids(limit=2, offset=1) == ["other", "draft"]
    assert await ids(started_since=NOW - timedelta(hours=2)) == ["open", "other", "draft"]
    assert await ids(started_before=NOW - timedelta(hours=2)) == ["old"]
    listed = await incidents.list_incidents(session, page="main", limit=1)
    assert listed[0].updates == now_open.updates


async def test_it_deletes_an_incident_with_its_updates(session: AsyncSession) -> None:
    await incidents.insert_incident(session, resolve(opened()), NOW)
    assert await incidents.delete_incident(session, "inc1") is True
    assert await incidents.get(session, "inc1") is None
    assert await incidents.delete_incident(session, "inc1") is False


def test_new_ids_are_short_random_and_lowercase() -> None:
    made = {incidents.new_id() for _ in range(50)}
    assert len(made) == 50
    assert all(re.fullmatch(r"[0-9a-z]{12}", i) for i in made)
