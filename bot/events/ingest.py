"""Turning a business event into stored facts and scheduled surveys, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.events.schema import BusinessEventIn
from flows.journey import Journey
from flows.scheduling import plan_surveys, stages_cancelled_by
from storage import repo
from storage.db import Database
from storage.tables import BusinessEvent, DueWork, Order, SurveyInstance, Ticket

TELEGRAM = "telegram"


@dataclass
class IngestResult:
    """What an event did: accepted or a duplicate, and the surveys it scheduled."""

    status: str  # "accepted" | "duplicate"
    customer_id: str
    scheduled: list[tuple[str, datetime]] = field(default_factory=list)
    cancelled: int = 0
    reachable: bool = False


def _record_order(session: Session, event: BusinessEventIn, now: datetime) -> None:
    if event.order is None:
        return
    order = session.get(Order, event.order.id) or Order(
        id=event.order.id, customer_id=event.customer.id, updated_at=now
    )
    if event.order.items:
        order.items = [item.model_dump() for item in event.order.items]
    status = event.type.split(".", 1)[1]
    order.status = status
    if event.type == "order.placed":
        order.placed_at = event.occurred_at
    if event.type == "order.delivered":
        order.delivered_at = event.occurred_at
    order.updated_at = now
    session.add(order)


def _record_ticket(session: Session, event: BusinessEventIn) -> None:
    if event.ticket is None:
        return
    ticket = session.get(Ticket, event.ticket.id) or Ticket(
        id=event.ticket.id, customer_id=event.customer.id, order_id=event.order.id if event.order else None
    )
    if event.type in ("ticket.opened", "ticket.reopened"):
        ticket.status, ticket.opened_at = "open", ticket.opened_at or event.occurred_at
    elif event.type == "ticket.closed":
        ticket.status, ticket.closed_at = "closed", event.occurred_at
    session.add(ticket)


def _cancel(session: Session, journey: Journey, event: BusinessEventIn, now: datetime) -> int:
    stages = stages_cancelled_by(journey, event.type)
    if not stages:
        return 0
    statement = select(SurveyInstance).where(
        col(SurveyInstance.customer_id) == event.customer.id,
        col(SurveyInstance.stage).in_(stages),
        col(SurveyInstance.status) == "scheduled",
    )
    if event.type.startswith("ticket.") and event.ticket is not None:
        statement = statement.where(col(SurveyInstance.ticket_id) == event.ticket.id)
    elif event.order is not None:
        statement = statement.where(col(SurveyInstance.order_id) == event.order.id)
    surveys = list(session.exec(statement))
    for survey in surveys:
        survey.status, survey.closed_at = "cancelled", now
        session.add(survey)
    if surveys:
        session.connection().execute(
            update(DueWork.__table__)  # type: ignore[attr-defined]
            .where(
                DueWork.__table__.c.survey_id.in_([s.id for s in surveys]),  # type: ignore[attr-defined]
                DueWork.__table__.c.status.in_(("pending", "waiting")),  # type: ignore[attr-defined]
            )
            .values(status="cancelled", done_at=now)
        )
    return len(surveys)


def ingest_event(db: Database, journey: Journey, event: BusinessEventIn, now: datetime) -> IngestResult:
    """Store ``event`` and schedule or cancel the surveys it leads to; idempotent on ``event_id``.

    Raises:
        StorageError: when the database fails (nothing is written then).
    """
    with db.write() as session:
        if session.get(BusinessEvent, event.event_id) is not None:
            return IngestResult(status="duplicate", customer_id=event.customer.id)
        customer = repo.ensure_customer(
            session,
            event.customer.id,
            now,
            name=event.customer.name,
            language=event.language,
            timezone=event.customer.timezone,
            consent=event.customer.consent,
        )
        session.add(
            BusinessEvent(
                event_id=event.event_id,
                type=event.type,
                occurred_at=event.occurred_at,
                received_at=now,
                customer_id=customer.id,
                order_id=event.order.id if event.order else None,
                payload=event.model_dump(mode="json"),
            )
        )
        if event.customer.telegram_chat_id is not None:
            existing = repo.find_identity(session, TELEGRAM, str(event.customer.telegram_chat_id))
            if existing is None:
                repo.bind_identity(session, customer.id, TELEGRAM, str(event.customer.telegram_chat_id), now)
        _record_order(session, event, now)
        _record_ticket(session, event)
        result = IngestResult(status="accepted", customer_id=customer.id)
        result.cancelled = _cancel(session, journey, event, now)
        for planned in plan_surveys(journey, event.type, event.event_id, event.occurred_at):
            survey = SurveyInstance(
                customer_id=customer.id,
                order_id=event.order.id if event.order else None,
                ticket_id=event.ticket.id if event.ticket else None,
                event_id=event.event_id,
                stage=planned.stage.id,
                metric=planned.stage.metric.value,
                placeholders=event.placeholders(),
                due_at=planned.due_at,
                created_at=now,
            )
            session.add(survey)
            session.flush()
            assert survey.id is not None
            repo.schedule_work(
                session,
                kind="survey_due",
                customer_id=customer.id,
                survey_id=survey.id,
                due_at=planned.due_at,
                now=now,
            )
            result.scheduled.append((planned.stage.id, planned.due_at))
        result.reachable = repo.reachable_identity(session, customer.id) is not None
    return result
