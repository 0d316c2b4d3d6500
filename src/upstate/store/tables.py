"""The schema: every table of Upstate, as SQLAlchemy Core tables on one MetaData.

Core tables rather than ORM classes: the hot paths (results, rollups) are Core
executemany and upserts, and repositories hand frozen dataclasses to callers, so
nothing lazy-loads behind an `await`. Alembic migrations in migrations/versions/
must produce exactly this schema; tests/store/test_migrations.py checks it.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from upstate.domain.latency import BUCKETS
from upstate.store.types import BigId, Json, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

KEY_LENGTH = 64
ERROR_MESSAGE_LENGTH = 500
PING_BODY_BYTES = 10 * 1024
HISTOGRAM_COLUMNS = tuple(f"h{i:02d}" for i in range(BUCKETS))


def _monitor_fk() -> Column[int]:
    return Column("monitor_id", ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False)


monitors = Table(
    "monitors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(KEY_LENGTH), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source", String(8), nullable=False),
    Column("definition", Json, nullable=False),
    Column("interval_s", Float, nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("tags", Json, nullable=False),
    Column("regions", Json, nullable=False),
    Column("paused", Boolean, nullable=False),
    Column("ping_token", String(64), nullable=True, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("source IN ('config', 'api')", name="source"),
)

monitor_state = Table(
    "monitor_state",
    metadata,
    Column(
        "monitor_id",
        ForeignKey("monitors.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("status", String(16), nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("last_checked_at", UtcDateTime, nullable=True),
    Column("state", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

results = Table(
    "results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _monitor_fk(),
    Column("region", String(KEY_LENGTH), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("dns_ms", Float, nullable=True),
    Column("connect_ms", Float, nullable=True),
    Column("tls_ms", Float, nullable=True),
    Column("ttfb_ms", Float, nullable=True),
    Column("transfer_ms", Float, nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("error_kind", String(32), nullable=True),
    Column("error_message", String(ERROR_MESSAGE_LENGTH), nullable=True),
    Column("extracted", Json, nullable=True),
    Index(None, "monitor_id", "started_at"),
    Index(None, "started_at"),  # retention deletes by age across all monitors
)

status_changes = Table(
    "status_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _monitor_fk(),
    Column("previous", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("flapping", Boolean, nullable=False),
    Column("region", String(KEY_LENGTH), nullable=True),
    Index(None, "monitor_id", "at"),
)

# One row per (monitor, region, period, bucket): period is 'hour' or 'day' (UTC).
# Latency figures cover results that got an answer (no error_kind); `count` covers all.
rollups = Table(
    "rollups",
    metadata,
    Column("monitor_id", ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("region", String(KEY_LENGTH), nullable=False),
    Column("period", String(4), nullable=False),
    Column("bucket_start", UtcDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    Column("up", Integer, nullable=False),
    Column("degraded", Integer, nullable=False),
    Column("down", Integer, nullable=False),
    Column("latency_count", Integer, nullable=False),
    Column("latency_min", Float, nullable=True),
    Column("latency_sum", Float, nullable=False),
    Column("latency_max", Float, nullable=True),
    *(Column(name, Integer, nullable=False) for name in HISTOGRAM_COLUMNS),
    PrimaryKeyConstraint("monitor_id", "region", "period", "bucket_start"),
    CheckConstraint("period IN ('hour', 'day')", name="period"),
    Index(None, "bucket_start"),
)

pings = Table(
    "pings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _monitor_fk(),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("exit_status", Integer, nullable=True),
    Column("body", Text, nullable=True),
    Column("duration_ms", Float, nullable=True),
    Column("remote_addr", String(64), nullable=True),
    CheckConstraint("kind IN ('success', 'start', 'fail', 'exit')", name="kind"),
    Index(None, "monitor_id", "at"),
    Index(None, "at"),  # retention deletes by age across all monitors
)
