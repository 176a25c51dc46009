"""What deciding whether to ask a due survey reads about its customer (bot.events.facts)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.tables import DueWork, Escalation, SurveyInstance, Ticket


def has_open_escalation(session: Session, customer_id: str) -> bool:
    """Return whether the customer has an unresolved escalation."""
    statement = select(Escalation.id).where(
        col(Escalation.customer_id) == customer_id, col(Escalation.status).in_(("open", "taken"))
    )
    return session.exec(statement).first() is not None


def has_open_ticket(session: Session, customer_id: str) -> bool:
    """Return whether the customer has an open support ticket."""
    statement = select(Ticket.id).where(col(Ticket.customer_id) == customer_id, col(Ticket.status) == "open")
    return session.exec(statement).first() is not None


def sent_since(session: Session, customer_id: str, since: datetime, other_than: int) -> list[SurveyInstance]:
    """Return the customer's surveys sent after ``since``, but survey ``other_than``."""
    statement = select(SurveyInstance).where(
        col(SurveyInstance.customer_id) == customer_id,
        col(SurveyInstance.sent_at).is_not(None),
        col(SurveyInstance.sent_at) > since,
        col(SurveyInstance.id) != other_than,
    )
    return list(session.exec(statement).all())


def due_unasked(session: Session, customer_id: str, now: datetime, other_than: int) -> list[SurveyInstance]:
    """Return the customer's other surveys whose timer is due by ``now`` and not yet asked."""
    statement = (
        select(SurveyInstance)
        .join(DueWork, col(DueWork.survey_id) == col(SurveyInstance.id))
        .where(
            col(SurveyInstance.customer_id) == customer_id,
            col(SurveyInstance.status) == "scheduled",
            col(SurveyInstance.id) != other_than,
            col(DueWork.kind) == "survey_due",
            col(DueWork.status) == "pending",
            col(DueWork.due_at) <= now,
        )
    )
    return list(session.exec(statement).all())
