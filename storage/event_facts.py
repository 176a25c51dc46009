"""What a business event stores (bot.events.ingest): orders, tickets, and the surveys it plans or
cancels, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import Session, col, select

from storage import repo
from storage.tables import DueWork, Order, SurveyInstance, Ticket

_DUE_WORK: Any = DueWork.__table__  # type: ignore[attr-defined]


def _get_or_insert(session: Session, model: Any, key: str, values: dict[str, Any]) -> Any:
    """Return the row ``key`` of ``model``, inserted with ``values`` first if new (ON CONFLICT DO NOTHING).

    Two events of one new order may arrive at once on two workers: insert-if-new, then update.
    """
    repo.insert_or_ignore(session, model, values, [next(iter(values))])
    return session.get(model, key, populate_existing=True)


def record_order(
    session: Session,
    order_id: str,
    customer_id: str,
    now: datetime,
    *,
    status: str,
    items: list[dict[str, Any]] | None = None,
    placed_at: datetime | None = None,
    delivered_at: datetime | None = None,
) -> None:
    """Create the order if new, then set its ``status`` (and the items and times given)."""
    fresh = Order(id=order_id, customer_id=customer_id, updated_at=now)
    order: Order = _get_or_insert(session, Order, order_id, fresh.model_dump())
    if items:
        order.items = items
    order.status = status
    if placed_at is not None:
        order.placed_at = placed_at
    if delivered_at is not None:
        order.delivered_at = delivered_at
    order.updated_at = now
    session.add(order)


def record_ticket(
    session: Session,
    ticket_id: str,
    customer_id: str,
    order_id: str | None,
    *,
    opened_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> None:
    """Create the ticket if new; open it at ``opened_at`` (its first opening kept) or close it at
    ``closed_at``, when given."""
    fresh = Ticket(id=ticket_id, customer_id=customer_id, order_id=order_id)
    ticket: Ticket = _get_or_insert(session, Ticket, ticket_id, fresh.model_dump())
    if opened_at is not None:
        ticket.status, ticket.opened_at = "open", ticket.opened_at or opened_at
    elif closed_at is not None:
        ticket.status, ticket.closed_at = "closed", closed_at
    session.add(ticket)


@dataclass(frozen=True)
class SurveyMatch:
    """Surveys of ``stages`` (and of the ticket or order, when given)."""

    stages: Sequence[str]
    ticket_id: str | None = None
    order_id: str | None = None


def cancel_scheduled_surveys(
    session: Session, customer_id: str, matches: Sequence[SurveyMatch], reason: str, now: datetime
) -> int:
    """Cancel the customer's scheduled surveys matching any of ``matches`` (and their pending or
    waiting timers), for ``reason``; return how many."""
    if not matches:
        return 0
    conditions = []
    for match in matches:
        condition: list[ColumnElement[bool]] = [col(SurveyInstance.stage).in_(match.stages)]
        if match.ticket_id is not None:
            condition.append(col(SurveyInstance.ticket_id) == match.ticket_id)
        if match.order_id is not None:
            condition.append(col(SurveyInstance.order_id) == match.order_id)
        conditions.append(and_(*condition))
    statement = select(SurveyInstance).where(
        col(SurveyInstance.customer_id) == customer_id,
        col(SurveyInstance.status) == "scheduled",
        or_(*conditions),
    )
    surveys = list(session.exec(statement))
    for survey in surveys:
        survey.status, survey.closed_at, survey.reason = "cancelled", now, reason
        session.add(survey)
    if surveys:
        session.connection().execute(
            update(_DUE_WORK)
            .where(
                _DUE_WORK.c.survey_id.in_([s.id for s in surveys]),
                _DUE_WORK.c.status.in_(("pending", "waiting")),
            )
            .values(status="cancelled", done_at=now)
        )
    return len(surveys)


def add_survey(session: Session, survey: SurveyInstance) -> int:
    """Store a new survey; return its id."""
    session.add(survey)
    session.flush()
    assert survey.id is not None
    return survey.id


def surveys_of_event(session: Session, event_id: str) -> list[tuple[SurveyInstance, DueWork | None]]:
    """Return the surveys the event planned, by id, each with its due timer (None when it has none)."""
    surveys = list(
        session.exec(
            select(SurveyInstance)
            .where(col(SurveyInstance.event_id) == event_id)
            .order_by(col(SurveyInstance.id))
        )
    )
    timers = {
        w.survey_id: w
        for w in session.exec(
            select(DueWork).where(
                col(DueWork.survey_id).in_([s.id for s in surveys]), col(DueWork.kind) == "survey_due"
            )
        )
    }
    return [(survey, timers.get(survey.id)) for survey in surveys]
