"""connector deliveries (raw webhook bodies of shops, trackers, helpdesks) customer contacts, Chatwoot conversations of escalations

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("last_duplicate_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("leased_until", storage.types.UTCDateTime(), nullable=True),
        sa.Column("processed_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connector", "delivery_id"),
    )
    with op.batch_alter_table("connector_deliveries") as batch_op:
        batch_op.create_index("ix_connector_deliveries_pending", ["status", "received_at"], unique=False)
        batch_op.create_index("ix_connector_deliveries_recent", ["connector", "received_at"], unique=False)
    op.create_table(
        "customer_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "value"),
    )
    with op.batch_alter_table("customer_contacts") as batch_op:
        batch_op.create_index("ix_customer_contacts_customer_id", ["customer_id"], unique=False)
    op.create_table(
        "chatwoot_conversations",
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("escalation_id"),
    )


def downgrade() -> None:
    op.drop_table("chatwoot_conversations")
    op.drop_table("customer_contacts")
    op.drop_table("connector_deliveries")
