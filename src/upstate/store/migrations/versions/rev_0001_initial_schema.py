"""Initial schema: monitors and their state, results, status changes, rollups, pings.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HISTOGRAM_BUCKETS = 30  # frozen here: a change of buckets is a new revision


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _monitor_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["monitor_id"],
        ["monitors.id"],
        name=op.f(f"fk_{table}_monitor_id_monitors"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("regions", JSON, nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("ping_token", sa.String(length=64), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint("source IN ('config', 'api')", name=op.f("ck_monitors_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("key", name=op.f("uq_monitors_key")),
        sa.UniqueConstraint("ping_token", name=op.f("uq_monitors_ping_token")),
    )
    op.create_table(
        "monitor_state",
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("since", _utc(), nullable=False),
        sa.Column("last_checked_at", _utc(), nullable=True),
        sa.Column("state", JSON, nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        _monitor_fk("monitor_state"),
        sa.PrimaryKeyConstraint("monitor_id", name=op.f("pk_monitor_state")),
    )
    op.create_table(
        "results",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("dns_ms", sa.Float(), nullable=True),
        sa.Column("connect_ms", sa.Float(), nullable=True),
        sa.Column("tls_ms", sa.Float(), nullable=True),
        sa.Column("ttfb_ms", sa.Float(), nullable=True),
        sa.Column("transfer_ms", sa.Float(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("extracted", JSON, nullable=True),
        _monitor_fk("results"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
    )
    op.create_index(
        op.f("ix_results_monitor_id_started_at"), "results", ["monitor_id", "started_at"]
    )
    op.create_table(
        "status_changes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=True),
        _monitor_fk("status_changes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_changes")),
    )
    op.create_index(op.f("ix_status_changes_monitor_id_at"), "status_changes", ["monitor_id", "at"])
    op.create_table(
        "rollups",
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("bucket_start", _utc(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("up", sa.Integer(), nullable=False),
        sa.Column("degraded", sa.Integer(), nullable=False),
        sa.Column("down", sa.Integer(), nullable=False),
        sa.Column("latency_count", sa.Integer(), nullable=False),
        sa.Column("latency_min", sa.Float(), nullable=True),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("latency_max", sa.Float(), nullable=True),
        *(sa.Column(f"h{i:02d}", sa.Integer(), nullable=False) for i in range(HISTOGRAM_BUCKETS)),
        sa.CheckConstraint("period IN ('hour', 'day')", name=op.f("ck_rollups_period")),
        _monitor_fk("rollups"),
        sa.PrimaryKeyConstraint(
            "monitor_id", "region", "period", "bucket_start", name=op.f("pk_rollups")
        ),
    )
    op.create_index(op.f("ix_rollups_bucket_start"), "rollups", ["bucket_start"])
    op.create_table(
        "pings",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('success', 'start', 'fail', 'exit')", name=op.f("ck_pings_kind")
        ),
        _monitor_fk("pings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pings")),
    )
    op.create_index(op.f("ix_pings_monitor_id_at"), "pings", ["monitor_id", "at"])


def downgrade() -> None:
    for table in ("pings", "rollups", "status_changes", "results", "monitor_state", "monitors"):
        op.drop_table(table)
