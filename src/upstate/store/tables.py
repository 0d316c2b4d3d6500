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

# --- incidents, maintenance, notifications (issue 3/4) ------------------------------------

ID_LENGTH = 16  # incident and maintenance ids: short random text, as Statuspage has them
TARGET_LENGTH = 80  # an outbox target: a channel key, or "subscriber:<id>"
IDEMPOTENCY_KEY_LENGTH = 200

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("impact", String(8), nullable=False),
    Column("draft", Boolean, nullable=False),
    Column("auto", Boolean, nullable=False),
    Column("pages", Json, nullable=False),  # slugs of the status pages it is shown on
    Column("components", Json, nullable=False),  # component code -> component status
    Column("monitors", Json, nullable=False),  # keys an automatic incident covers
    Column("started_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "status IN ('investigating', 'identified', 'monitoring', 'resolved', 'postmortem')",
        name="status",
    ),
    CheckConstraint("impact IN ('none', 'minor', 'major', 'critical')", name="impact"),
    Index(None, "started_at"),
    Index(None, "resolved_at"),
)

incident_updates = Table(
    "incident_updates",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_id", ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),  # its place in the timeline, from 0
    Column("status", String(16), nullable=False),
    Column("body", Text, nullable=False),  # Markdown
    Column("at", UtcDateTime, nullable=False),
    Column("affected_components", Json, nullable=False),
    Index(None, "incident_id", "seq", unique=True),
)

maintenance = Table(
    "maintenance",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("source", String(8), nullable=False),
    Column("monitors", Json, nullable=False),
    Column("starts_at", UtcDateTime, nullable=True),  # one-off windows
    Column("ends_at", UtcDateTime, nullable=True),
    Column("schedule", String(120), nullable=True),  # recurring: cron + duration
    Column("duration_s", Float, nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("cancelled", Boolean, nullable=False),
    Column("verifying_at", UtcDateTime, nullable=True),  # the work is done, being checked
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("source IN ('config', 'api')", name="source"),
)

# The notices already written for a window (domain.maintenance.MaintenanceNotice.key),
# so a restart or a second process never announces the same start twice.
maintenance_notices = Table(
    "maintenance_notices",
    metadata,
    Column("maintenance_id", ForeignKey("maintenance.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(120), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("maintenance_id", "key"),
)

# The last alert written for each monitor (domain.routing.LastNotice): written in the same
# transaction as the outbox rows it led to, so asking again repeats nothing.
notice_memory = Table(
    "notice_memory",
    metadata,
    Column("monitor_id", ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# Every notification to send: one row per event and target, written in the transaction
# of the change that caused it. Delivered in id order per target.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(IDEMPOTENCY_KEY_LENGTH), nullable=False, unique=True),
    Column("target", String(TARGET_LENGTH), nullable=False),
    Column("kind", String(32), nullable=False),  # the event kind, for the log and filters
    Column("event", Json, nullable=False),  # notify.events.Event.to_dict()
    Column("state", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_attempt_at", UtcDateTime, nullable=True),
    Column("done_at", UtcDateTime, nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("error", String(ERROR_MESSAGE_LENGTH), nullable=True),
    CheckConstraint("state IN ('pending', 'sent', 'skipped', 'failed')", name="state"),
    Index(None, "state", "target", "id"),
    Index(None, "created_at"),
)

# A target's health as the delivery loop last saw it (GET /api/v1/channels).
channel_state = Table(
    "channel_state",
    metadata,
    Column("target", String(TARGET_LENGTH), primary_key=True),
    Column("failing", Boolean, nullable=False),
    Column("last_error", String(ERROR_MESSAGE_LENGTH), nullable=True),
    Column("last_error_at", UtcDateTime, nullable=True),
    Column("last_success_at", UtcDateTime, nullable=True),
    Column("fingerprint", String(64), nullable=True),  # of the config it failed with
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("page", String(KEY_LENGTH), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("address", Text, nullable=False),  # an email address, or an encrypted URL
    Column("address_hash", String(64), nullable=False),  # one subscription per address
    Column("components", Json, nullable=False),  # codes; empty: all of the page
    Column("token", String(64), nullable=False, unique=True),  # confirm / unsubscribe
    Column("confirmed_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('email', 'webhook')", name="kind"),
    Index(None, "page", "kind", "address_hash", unique=True),
    # Never reuse a deleted subscriber's id: its outbox target "subscriber:<id>" must not
    # reach a newcomer.
    sqlite_autoincrement=True,
)
