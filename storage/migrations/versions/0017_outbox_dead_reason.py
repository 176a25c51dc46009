"""outbox.dead_reason: why a message given up on is a dead letter (blocked, permanent, exhausted)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("dead_reason", sa.String(length=16), nullable=True))
    # Messages failed before the reason was kept: a blocked chat said so in its error.
    op.execute(
        "UPDATE outbox SET dead_reason = CASE WHEN error LIKE 'blocked%' THEN 'blocked' ELSE 'unknown' END "
        "WHERE status = 'failed'"
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("dead_reason")
