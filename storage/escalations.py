"""Escalation reads and writes inside a caller's transaction (the agents' desk renders them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.db import Database
from storage.tables import AgentActionRecord, ClosingQuestion, Customer, Escalation, Response


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


_OPEN = ("open", "taken")
_T = Escalation.__table__  # type: ignore[attr-defined]  # SQLModel's metaclass does not declare __table__


def lock_escalation(session: Session, escalation_id: int) -> Escalation:
    """Return the escalation, locked for update until the transaction ends.

    Raises:
        sqlalchemy.exc.NoResultFound: when there is none.
    """
    return session.exec(select(Escalation).where(col(Escalation.id) == escalation_id).with_for_update()).one()


def customer_of(session: Session, escalation_id: int) -> str | None:
    """Return the customer of the escalation (None when it, or its customer, is gone)."""
    found = session.get(Escalation, escalation_id)
    return found.customer_id if found else None


def ask_closing_question(session: Session, escalation_id: int, agent: str, now: datetime) -> None:
    """Ask "did we solve it?" once for this resolution: its own row, answered later, never overwritten."""
    session.add(ClosingQuestion(escalation_id=escalation_id, asked_at=now, asked_by=agent))


def by_card(
    session: Session, chat_id: str, message_id: int | None, thread_id: int | None
) -> Escalation | None:
    """Return the escalation whose card is ``message_id`` (or whose forum topic is ``thread_id``)."""
    if message_id is not None:
        found = session.exec(
            select(Escalation).where(
                col(Escalation.card_chat_id) == chat_id, col(Escalation.card_message_id) == message_id
            )
        ).first()
        if found is not None:
            return found
    if thread_id is not None:
        return session.exec(
            select(Escalation)
            .where(col(Escalation.card_chat_id) == chat_id, col(Escalation.thread_id) == thread_id)
            .order_by(col(Escalation.id).desc())
        ).first()
    return None


def record_action(session: Session, escalation_id: int, agent: str, action: str, now: datetime) -> None:
    """Add one row to the desk's audit inside the caller's transaction."""
    session.add(AgentActionRecord(escalation_id=escalation_id, agent=agent[:128], action=action, at=now))


def action_trail(session: Session, escalation_id: int) -> list[AgentActionRecord]:
    """Return the escalation's audit, oldest first."""
    statement = (
        select(AgentActionRecord)
        .where(col(AgentActionRecord.escalation_id) == escalation_id)
        .order_by(col(AgentActionRecord.at), col(AgentActionRecord.id))
    )
    return list(session.exec(statement))


def latest_answers(session: Session, customer_id: str, limit: int) -> list[Response]:
    """Return the customer's latest stored scores, newest first."""
    statement = (
        select(Response)
        .where(col(Response.customer_id) == customer_id, col(Response.score).is_not(None))
        .order_by(col(Response.answered_at).desc())
        .limit(limit)
    )
    return list(session.exec(statement))


def unresolved(session: Session) -> list[Escalation]:
    """Return the escalations open or taken."""
    return list(session.exec(select(Escalation).where(col(Escalation.status).in_(_OPEN))))


def nudge_candidates(session: Session, now: datetime) -> list[Escalation]:
    """Return the unresolved escalations opened by ``now`` with a due time and no nudge yet."""
    return list(
        session.exec(
            select(Escalation).where(
                col(Escalation.status).in_(_OPEN),
                col(Escalation.sla_warned_at).is_(None),
                col(Escalation.sla_due_at).is_not(None),
                col(Escalation.opened_at) <= now,
            )
        )
    )


def claim_nudge(session: Session, escalation_id: int, now: datetime) -> bool:
    """Mark the escalation nudged at ``now`` unless another worker did, or it was resolved; return
    whether this transaction claimed it (a conditional UPDATE: one nudge across workers)."""
    claimed = session.connection().execute(
        update(_T)
        .where(_T.c.id == escalation_id, _T.c.sla_warned_at.is_(None), _T.c.status.in_(_OPEN))
        .values(sla_warned_at=now)
    )
    return claimed.rowcount == 1


def past_due(session: Session, now: datetime) -> list[Escalation]:
    """Return the unresolved escalations whose due time is ``now`` or earlier."""
    return list(
        session.exec(
            select(Escalation).where(
                col(Escalation.status).in_(_OPEN),
                col(Escalation.sla_due_at).is_not(None),
                col(Escalation.sla_due_at) <= now,
            )
        )
    )


def claim_overdue_mark(session: Session, escalation_id: int, shown: int | None, hours: int) -> bool:
    """Change the escalation's shown overdue hours from ``shown`` to ``hours`` unless another worker
    did, or it was resolved; return whether this transaction claimed the change."""
    same = _T.c.overdue_hours.is_(None) if shown is None else _T.c.overdue_hours == shown
    claimed = session.connection().execute(
        update(_T).where(_T.c.id == escalation_id, same, _T.c.status.in_(_OPEN)).values(overdue_hours=hours)
    )
    return claimed.rowcount == 1


def count_overdue(
    session: Session, now: datetime, since: datetime | None = None, until: datetime | None = None
) -> int:
    """Return how many escalations (opened in [since, until) if given) missed their due time by ``now``:
    resolved after it, or unresolved past it."""
    resolved_late = (col(Escalation.resolved_at).is_not(None)) & (
        col(Escalation.resolved_at) > col(Escalation.sla_due_at)
    )
    open_late = col(Escalation.resolved_at).is_(None) & (col(Escalation.sla_due_at) < now)
    statement = (
        select(func.count())
        .select_from(Escalation)
        .where(col(Escalation.sla_due_at).is_not(None), resolved_late | open_late)
    )
    if since is not None:
        statement = statement.where(col(Escalation.opened_at) >= since)
    if until is not None:
        statement = statement.where(col(Escalation.opened_at) < until)
    return int(session.exec(statement).one())


def closing_answers_of_resolved(session: Session, since: datetime, until: datetime) -> list[str | None]:
    """Return the closing answer (None: not answered) of each escalation resolved in [since, until)."""
    return list(
        session.exec(
            select(Escalation.closing_answer).where(
                col(Escalation.resolved_at) >= since, col(Escalation.resolved_at) < until
            )
        )
    )


def listing(db: Database, *, only_open: bool) -> list[tuple[Escalation, list[AgentActionRecord]]]:
    """Return the escalations (only the unresolved ones if ``only_open``), newest first, each with
    its audit, oldest first."""
    statement = select(Escalation).order_by(col(Escalation.opened_at).desc(), col(Escalation.id).desc())
    if only_open:
        statement = statement.where(col(Escalation.status).in_(_OPEN))
    with db.read() as session:
        escalations = list(session.exec(statement))
        trails: dict[int, list[AgentActionRecord]] = {}
        ids = [e.id for e in escalations if e.id is not None]
        if ids:
            for action in session.exec(
                select(AgentActionRecord)
                .where(col(AgentActionRecord.escalation_id).in_(ids))
                .order_by(col(AgentActionRecord.at), col(AgentActionRecord.id))
            ):
                trails.setdefault(action.escalation_id, []).append(action)
    return [(e, trails.get(e.id or 0, [])) for e in escalations]


def get(session: Session, escalation_id: int) -> Escalation | None:
    """Return the escalation (None when it is gone)."""
    return session.get(Escalation, escalation_id)


def reread(session: Session, escalation_id: int) -> Escalation:
    """Return the escalation as the database has it now (after a conditional UPDATE)."""
    escalation = session.get(Escalation, escalation_id)
    assert escalation is not None
    session.refresh(escalation)
    return escalation


def save(session: Session, escalation: Escalation) -> None:
    """Write the escalation's changes (a new one gets its id)."""
    session.add(escalation)
    session.flush()


def customer_of_case(session: Session, escalation: Escalation) -> Customer | None:
    """Return the escalation's customer (None when unknown or forgotten)."""
    return session.get(Customer, escalation.customer_id) if escalation.customer_id else None


def place_topic(session: Session, escalation_id: int, thread_id: int) -> None:
    """Remember the forum topic created for the case (nothing when the escalation is gone)."""
    _place(session, escalation_id, {"thread_id": thread_id})


def place_card(session: Session, escalation_id: int, chat_id: str, message_id: int) -> None:
    """Remember the message the case's card became in ``chat_id`` (nothing when the escalation is gone)."""
    _place(session, escalation_id, {"card_message_id": message_id, "card_chat_id": chat_id})


def _place(session: Session, escalation_id: int, values: dict[str, object]) -> None:
    row = session.get(Escalation, escalation_id)
    if row is not None:
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
