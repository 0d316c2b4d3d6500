"""Small builders for store tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from upstate.domain.enums import MonitorKind
from upstate.store import monitors
from upstate.store.monitors import MonitorDraft, MonitorRecord, MonitorSource

NOW = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)


def draft(key: str = "api", **changes: Any) -> MonitorDraft:
    values: dict[str, Any] = {
        "key": key,
        "name": key.title(),
        "kind": MonitorKind.HTTP,
        "source": MonitorSource.CONFIG,
        "definition": {"url": f"https://{key}.example.com/health", "headers": {"X-A": "1"}},
        "interval_s": 30.0,
    }
    values.update(changes)
    return MonitorDraft(**values)


async def add_monitor(session: AsyncSession, key: str = "api", **changes: Any) -> MonitorRecord:
    return await monitors.upsert(session, draft(key, **changes), now=NOW)
