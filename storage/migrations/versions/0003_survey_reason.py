"""survey_instances.reason: why a survey was postponed or skipped

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey_instances") as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("survey_instances") as batch_op:
        batch_op.drop_column("reason")
