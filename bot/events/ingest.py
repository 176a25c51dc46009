"""Turning a business event into stored facts and scheduled surveys, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.events.schema import BusinessEventIn
from bot.privacy.erase import erased_customer_exists
from flows.errors import ConflictError
from flows.journey import Journey
from flows.scheduling import (
    DEFAULT_QUIET_HOURS,
    EXPIRED,
    QuietHours,
    next_window_open,
    plan_surveys,
    stages_cancelled_by,
)
from storage import event_facts, repo
from storage.db import Database, Session
from storage.links import issue_token
from storage.tables import BusinessEvent, SurveyInstance

TELEGRAM = "telegram"


@dataclass
class IngestResult:
    """What an event did: accepted or a duplicate, and the surveys it scheduled."""

    status: str  # "accepted" | "duplicate"
    customer_id: str
    scheduled: list[tuple[str, datetime]] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)  # stages planned past their deadline: never sent
    cancelled: int = 0
    reachable: bool = False
    token: str | None = None  # deep-link start token, when asked for and the customer is unreachable


def _record_order(session: Session, event: BusinessEventIn, now: datetime) -> None:
    if event.order is None:
        return
    event_facts.record_order(
        session,
        event.order.id,
        event.customer.id,
        now,
        status=event.type.split(".", 1)[1],
        items=[item.model_dump() for item in event.order.items] if event.order.items else None,
        placed_at=event.occurred_at if event.type == "order.placed" else None,
        delivered_at=event.occurred_at if event.type == "order.delivered" else None,
    )


def _record_ticket(session: Session, event: BusinessEventIn) -> None:
    if event.ticket is None:
        return
    event_facts.record_ticket(
        session,
        event.ticket.id,
        event.customer.id,
        event.order.id if event.order else None,
        opened_at=event.occurred_at if event.type in ("ticket.opened", "ticket.reopened") else None,
        closed_at=event.occurred_at if event.type == "ticket.closed" else None,
    )


def _cancel(session: Session, journey: Journey, event: BusinessEventIn, now: datetime) -> int:
    stages = stages_cancelled_by(journey, event.type)
    if not stages:
        return 0
    # Ticket stages match the ticket; order stages match the order (a ticket event naming no
    # order suppresses every pending survey of those stages: the customer has an issue).
    ticket_stages = [s for s in stages if journey.stage(s).trigger.startswith("ticket.")]
    order_stages = [s for s in stages if s not in ticket_stages]
    matches = []
    if ticket_stages and event.ticket is not None:
        matches.append(event_facts.SurveyMatch(ticket_stages, ticket_id=event.ticket.id))
    if order_stages:
        if event.order is not None:
            matches.append(event_facts.SurveyMatch(order_stages, order_id=event.order.id))
        elif event.type.startswith("ticket."):
            matches.append(event_facts.SurveyMatch(order_stages))
    return event_facts.cancel_scheduled_surveys(session, event.customer.id, matches, event.type, now)


def ingest_event(
    db: Database,
    journey: Journey,
    event: BusinessEventIn,
    now: datetime,
    *,
    quiet: QuietHours | None = DEFAULT_QUIET_HOURS,
    link_token: bool = False,
) -> IngestResult:
    """Store ``event`` and schedule or cancel the surveys it leads to; idempotent on ``event_id``.

    Timers are set at the planned time moved into the customer's sending window (``quiet``);
    the survey keeps its planned ``due_at`` (its deadline counts from there). With
    ``link_token`` a deep-link start token is issued (same transaction) when the bot cannot
    reach the customer yet.

    Raises:
        ConflictError: the customer was erased (``cxbot forget``): nothing about them is stored again.
        StorageError: when the database fails (nothing is written then).
    """
    with db.write() as session:
        if erased_customer_exists(session, event.customer.id):
            raise ConflictError("customer.id: this customer's data was erased; events about them are refused")
        # The event row is the claim: INSERT … ON CONFLICT DO NOTHING RETURNING. A concurrent
        # delivery of the same event (another worker, a relay's parallel retry) waits for the
        # winner's commit and then finds the conflict: ``duplicate``, never a unique-key 500.
        # A duplicate never issues a start token: a replayed body must not mint a fresh link.
        claimed = repo.insert_or_ignore(
            session,
            BusinessEvent,
            {
                "event_id": event.event_id,
                "type": event.type,
                "occurred_at": event.occurred_at,
                "received_at": now,
                "customer_id": event.customer.id,
                "order_id": event.order.id if event.order else None,
                "payload": event.model_dump(mode="json"),
            },
            ["event_id"],
        )
        if not claimed:
            result = IngestResult(status="duplicate", customer_id=event.customer.id)
            result.reachable = repo.reachable_identity(session, event.customer.id) is not None
            return result
        customer = repo.ensure_customer(
            session,
            event.customer.id,
            now,
            name=event.customer.name,
            language=event.language,
            timezone=event.customer.timezone,
            consent=event.customer.consent,
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
            if now >= planned.due_at + planned.stage.expiry:
                # A back-filled event whose survey's time has passed: recorded, never sent.
                survey.status, survey.reason, survey.closed_at = "expired", EXPIRED, now
                event_facts.add_survey(session, survey)
                result.expired.append(planned.stage.id)
                continue
            survey_id = event_facts.add_survey(session, survey)
            due_at = next_window_open(max(planned.due_at, now), customer.timezone, quiet)
            repo.schedule_work(
                session,
                kind="survey_due",
                customer_id=customer.id,
                survey_id=survey_id,
                due_at=due_at,
                now=now,
            )
            result.scheduled.append((planned.stage.id, due_at))
        result.reachable = repo.reachable_identity(session, customer.id) is not None
        if link_token and not result.reachable:
            result.token = issue_token(session, customer.id, now)
    return result
