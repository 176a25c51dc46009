"""agents_channel: the agents' Telegram group is a channel of its own ("telegram-agents")

Cards, notes and customers' media copied onto a case were outbox rows of the "telegram" channel
picked out by kind; they are now rows of the agents' channel, delivered by its own sender; its
updates are stored in an inbox of its own. The rows still waiting are moved, so nothing queued
before the upgrade is left behind (group chats' updates: the customers' channel ignores them).

Revision ID: 0016
Revises: 0015_report_cache
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015_report_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE outbox SET channel = 'telegram-agents' "
        "WHERE channel = 'telegram' AND status = 'pending' "
        "AND (kind IN ('agent_card', 'agent_message') OR (kind = 'copy' AND address LIKE '-%'))"
    )
    op.execute(
        "UPDATE inbox SET channel = 'telegram-agents' "
        "WHERE channel = 'telegram' AND processed_at IS NULL AND chat_key LIKE '-_%'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE outbox SET channel = 'telegram' WHERE channel = 'telegram-agents' AND status = 'pending'"
    )
    op.execute(
        "UPDATE inbox SET channel = 'telegram' WHERE channel = 'telegram-agents' AND processed_at IS NULL"
    )
