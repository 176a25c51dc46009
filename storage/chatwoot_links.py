"""Which Chatwoot conversation each escalation opened (``bot.connectors.chatwoot_out``)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from storage import repo
from storage.tables import ChatwootConversation


def conversation_of(session: Session, escalation_id: int) -> int | None:
    """Return the Chatwoot conversation the escalation opened (None: not yet)."""
    known = session.get(ChatwootConversation, escalation_id)
    return known.conversation_id if known else None


def remember_conversation(
    session: Session, escalation_id: int, conversation_id: int, contact_id: int, now: datetime
) -> None:
    """Keep the conversation the escalation opened (the first one kept, should two workers race)."""
    repo.insert_or_ignore(
        session,
        ChatwootConversation,
        {
            "escalation_id": escalation_id,
            "conversation_id": conversation_id,
            "contact_id": contact_id,
            "created_at": now,
        },
        ["escalation_id"],
    )
