"""report_cache: closed weeks' answers counted for the weekly report, and the triggers on responses
that drop a cached week when one of its answers is written, changed or removed

Revision ID: 0015_report_cache
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types
from storage.report_cache_triggers import create_triggers, drop_triggers

revision = "0015_report_cache"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_cache",
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("part", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("period_start", storage.types.UTCDateTime(), nullable=False),
        sa.Column("period_end", storage.types.UTCDateTime(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("commented", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("built_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "timezone", "week", "part", "kind", "stage", "metric", "language", "channel", "score", "topics"
        ),
    )
    op.create_index("ix_report_cache_period", "report_cache", ["period_end", "period_start"])
    create_triggers(op.get_bind())


def downgrade() -> None:
    drop_triggers(op.get_bind())
    op.drop_index("ix_report_cache_period", table_name="report_cache")
    op.drop_table("report_cache")
