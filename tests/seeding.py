"""Test set-up shared by several test modules: customers with an open survey."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from storage.tables import OutboxMessage


def ask_delivery_csat(service: Service, now: datetime, chats: list[int]) -> dict[int, int]:
    """Ask each Telegram chat (customer ``c-<chat>``, English) the delivery CSAT at ``now``.

    Returns chat → survey id of the question queued for it. Fails the test unless every chat's
    survey was fed.
    """
    for chat in chats:
        event = BusinessEventIn.model_validate(
            {
                "event_id": f"evt-{chat}",
                "type": "order.delivered",
                "occurred_at": (now - timedelta(hours=3)).isoformat(),
                "customer": {"id": f"c-{chat}", "language": "en", "telegram_chat_id": chat},
                "order": {"id": f"o-{chat}"},
            }
        )
        ingest_event(service.db, service.journey, event, now, quiet=None)
    assert run_due_work(service, now, quiet=None) == {"fed": len(chats)}
    with service.db.read() as session:
        rows = session.exec(select(OutboxMessage)).all()
    return {int(row.address): int(row.payload["survey_id"]) for row in rows if int(row.address) in chats}
