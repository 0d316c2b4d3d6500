"""Indexes on results.started_at and pings.at, so retention deletes by age in one pass.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_results_started_at"), "results", ["started_at"])
    op.create_index(op.f("ix_pings_at"), "pings", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pings_at"), table_name="pings")
    op.drop_index(op.f("ix_results_started_at"), table_name="results")
