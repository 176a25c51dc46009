"""escalation desk: card versions, SLA nudges, closing answers, review invitations

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("review_invited_at", storage.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table("escalations") as batch_op:
        batch_op.add_column(sa.Column("card_version", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("closing_answered_at", storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("sla_warned_at", storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalations") as batch_op:
        batch_op.drop_column("sla_warned_at")
        batch_op.drop_column("closing_answered_at")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("card_version")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("review_invited_at")
