"""indexes for the weekly funnel (survey_instances.sent_at, delivered_at)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey_instances") as batch_op:
        batch_op.create_index("ix_survey_instances_sent_at", ["sent_at"], unique=False)
        batch_op.create_index("ix_survey_instances_delivered_at", ["delivered_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey_instances") as batch_op:
        batch_op.drop_index("ix_survey_instances_delivered_at")
        batch_op.drop_index("ix_survey_instances_sent_at")
