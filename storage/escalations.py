"""Escalation reads and writes inside a caller's transaction (the agents' desk renders them)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.tables import ClosingQuestion, Escalation


def record_closing_answer(session: Session, escalation: Escalation, answer: str, now: datetime) -> None:
    """Answer the escalation's newest unanswered closing question (one asked before 0009: add it)."""
    question = session.exec(
        select(ClosingQuestion)
        .where(col(ClosingQuestion.escalation_id) == escalation.id, col(ClosingQuestion.answer).is_(None))
        .order_by(col(ClosingQuestion.asked_at).desc(), col(ClosingQuestion.id).desc())
    ).first()
    if question is None:
        assert escalation.id is not None
        question = ClosingQuestion(
            escalation_id=escalation.id,
            asked_at=escalation.resolved_at or now,
            asked_by=escalation.resolved_by,
        )
    question.answer, question.answered_at = answer, now
    session.add(question)


def store_closing_answer(
    session: Session, escalation_id: int, solved: bool, now: datetime
) -> Escalation | None:
    """Keep the "did we solve it?" answer; "no" reopens the escalation. Return it (None if gone)."""
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        return None
    escalation.closing_answer = "yes" if solved else "no"
    escalation.closing_answered_at = now
    record_closing_answer(session, escalation, escalation.closing_answer, now)
    if not solved and escalation.status == "resolved":
        escalation.status = "open"
        escalation.resolved_at = None
        escalation.sla_warned_at = None
    escalation.updated_at = now
    session.add(escalation)
    session.flush()
    return escalation
