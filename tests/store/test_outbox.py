"""The outbox and channel_state repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from upstate.store import channel_state, outbox
from upstate.store.outbox import NewNotification

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def row(number: int, target: str, kind: str = "monitor.down") -> NewNotification:
    key = f"change:{number}/{target}"
    return NewNotification(key, target, kind, {"idempotency_key": key, "kind": kind})


async def ids(session: AsyncSession, target: str) -> list[int]:
    return [r.id for r in reversed(await outbox.list_rows(session, target=target))]


async def test_add_many_ignores_an_idempotency_key_already_queued(session: AsyncSession) -> None:
    await outbox.add_many(session, [row(1, "a"), row(2, "a")], NOW)
    await outbox.add_many(session, [row(2, "a"), row(3, "a")], NOW + timedelta(seconds=1))

    found = await outbox.list_rows(session, target="a")
    assert [r.idempotency_key for r in found] == ["change:3/a", "change:2/a", "change:1/a"]
    assert found[1].created_at == NOW
    assert {(r.state, r.attempts) for r in found} == {("pending", 0)}


async def test_only_the_oldest_pending_row_of_each_target_is_due(session: AsyncSession) -> None:
    await outbox.add_many(session, [row(1, "a"), row(2, "b"), row(3, "a")], NOW)
    await outbox.add_many(session, [row(4, "c")], NOW + timedelta(seconds=5))

    assert await outbox.due_targets(session, NOW, limit=10) == ["a", "b"]
    assert await outbox.due_targets(session, NOW, limit=10, exclude={"a"}) == ["b"]
    assert await outbox.due_targets(session, NOW + timedelta(seconds=5), limit=1) == ["a"]

    first, third = await ids(session, "a")
    assert await outbox.claim(session, first, NOW, NOW + timedelta(seconds=60))
    assert await outbox.reschedule(
        session,
        first,
        next_attempt_at=NOW + timedelta(seconds=10),
        status_code=500,
        error="HTTP 500",
    )
    # a's head waits for its retry, and holds back a's later row
    assert await outbox.due_targets(session, NOW + timedelta(seconds=5), limit=10) == ["b", "c"]
    head = await outbox.head(session, "a")
    assert head is not None
    assert (head.id, head.attempts, head.error) == (first, 1, "HTTP 500")
    assert await outbox.finish(session, first, outbox.SENT, NOW, status_code=200)
    head = await outbox.head(session, "a")
    assert head is not None
    assert head.id == third


async def test_a_row_is_claimed_once_and_finished_once(session: AsyncSession) -> None:
    await outbox.add_many(session, [row(1, "a")], NOW)
    (row_id,) = await ids(session, "a")
    until = NOW + timedelta(seconds=60)

    assert await outbox.claim(session, row_id, NOW, until)
    assert not await outbox.claim(session, row_id, NOW + timedelta(seconds=1), until)
    assert await outbox.claim(session, row_id, until, until + timedelta(seconds=60))  # lapsed
    assert await outbox.finish(session, row_id, outbox.FAILED, until, error="x" * 900)
    assert not await outbox.finish(session, row_id, outbox.SENT, until)
    with pytest.raises(ValueError, match="final state"):
        await outbox.finish(session, row_id, outbox.PENDING, until)

    found = await outbox.get(session, row_id)
    assert found is not None
    assert found.state == "failed"
    assert found.done
    assert found.last_attempt_at == until
    assert found.attempts == 2
    assert found.error is not None
    assert len(found.error) == 500
    assert await outbox.get_by_key(session, "change:1/a") == found


async def test_give_up_fails_only_old_pending_rows_of_the_target(session: AsyncSession) -> None:
    await outbox.add_many(session, [row(1, "a"), row(2, "b")], NOW)
    await outbox.add_many(session, [row(3, "a")], NOW + timedelta(hours=2))

    given_up = await outbox.give_up_before(
        session, "a", NOW + timedelta(hours=1), NOW, error="gave up"
    )

    assert given_up == 1
    assert [(r.state, r.error) for r in await outbox.list_rows(session)] == [
        ("pending", None),
        ("pending", None),
        ("failed", "gave up"),
    ]
    assert await outbox.pending_counts(session) == {"a": 1, "b": 1}


async def test_the_log_pages_newest_first_and_filters(session: AsyncSession) -> None:
    await outbox.add_many(session, [row(n, "a" if n % 2 else "b") for n in range(1, 8)], NOW)
    await outbox.add_many(session, [row(8, "a", kind="test")], NOW)

    page = await outbox.list_rows(session, limit=3)
    older = await outbox.list_rows(session, limit=3, before=page[-1].id)

    assert [r.idempotency_key for r in page] == ["change:8/a", "change:7/a", "change:6/b"]
    assert [r.idempotency_key for r in older] == ["change:5/a", "change:4/b", "change:3/a"]
    assert len(await outbox.list_rows(session, target="b")) == 3
    assert [r.kind for r in await outbox.list_rows(session, kind="test")] == ["test"]
    assert await outbox.list_rows(session, state="sent") == []


async def test_purge_deletes_rows_done_before_the_cutoff(session: AsyncSession) -> None:
    await outbox.add_many(session, [row(1, "a"), row(2, "a"), row(3, "a")], NOW)
    first, second, _ = await ids(session, "a")
    await outbox.finish(session, first, outbox.SENT, NOW)
    await outbox.finish(session, second, outbox.SKIPPED, NOW + timedelta(days=1))

    assert await outbox.purge_done(session, NOW + timedelta(hours=1)) == 1
    assert [r.state for r in await outbox.list_rows(session)] == ["pending", "skipped"]


async def test_channel_state_records_failing_errors_and_success(session: AsyncSession) -> None:
    assert await channel_state.get(session, "a") is None
    await channel_state.note_error(session, "a", "HTTP 500", NOW)
    await channel_state.mark_failing(session, "a", "HTTP 401", NOW, "f" * 64)
    await channel_state.mark_success(session, "b", NOW)

    states = await channel_state.get_all(session)
    assert states["a"].failing
    assert (states["a"].last_error, states["a"].fingerprint) == ("HTTP 401", "f" * 64)
    assert not states["b"].failing
    assert states["b"].last_success_at == NOW

    assert await channel_state.clear_failing(session, "a")
    assert not await channel_state.clear_failing(session, "a")
    cleared = await channel_state.get(session, "a")
    assert cleared is not None
    assert (cleared.failing, cleared.fingerprint, cleared.last_error) == (False, None, "HTTP 401")

    later = NOW + timedelta(minutes=1)
    await channel_state.note_error(session, "a", "HTTP 502", later)
    await channel_state.mark_success(session, "a", later)
    final = await channel_state.get(session, "a")
    assert final is not None
    assert (final.last_error, final.last_error_at, final.last_success_at) == (
        "HTTP 502",
        later,
        later,
    )
