"""Erasing a customer's personal data while keeping anonymous scores for the statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.connectors.privacy import erase_connector_data
from flows.errors import NotFoundError
from storage.db import Database
from storage.tables import (
    BusinessEvent,
    ChannelIdentity,
    Conversation,
    Customer,
    DueWork,
    Escalation,
    InboxUpdate,
    LinkToken,
    Order,
    OutboxMessage,
    Response,
    SurveyInstance,
    Ticket,
)


@dataclass(frozen=True)
class Erasure:
    """What ``forget`` removed or anonymised."""

    answers_anonymised: int
    escalations_anonymised: int
    identities_removed: int
    events_removed: int


def forget_customer(db: Database, customer_id: str, now: datetime) -> Erasure:
    """Erase a customer's personal data (name, chat ids, comments, events); keep anonymous scores.

    Scores stay (stage, metric, score, language, channel, time) with no customer, order or words,
    so weekly figures are unchanged. Pending surveys are cancelled; the customer row remains as a
    tombstone (opted out, erased_at set) so a replayed event does not resurrect it silently.

    Raises:
        NotFoundError: when no such customer exists.
    """
    with db.write() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFoundError(f"no customer {customer_id!r}")
        return erase_personal_data(session, customer, now, keep_conversation=False)


def erase_personal_data(
    session: Session, customer: Customer, now: datetime, *, keep_conversation: bool
) -> Erasure:
    """Erase ``customer``'s personal data inside the caller's transaction (see ``forget_customer``).

    ``keep_conversation`` leaves the conversation row for the caller to reset (the chat's own
    erasure request, which saves a fresh state in the same transaction).
    """
    customer_id = customer.id
    c = session.connection()
    # Inbox rows hold raw updates (message texts) keyed by chat: find the chats first.
    chats = [
        row.address
        for row in session.exec(
            select(ChannelIdentity).where(col(ChannelIdentity.customer_id) == customer_id)
        )
    ]
    answers = c.execute(
        update(Response)
        .where(col(Response.customer_id) == customer_id)
        .values(customer_id=None, order_id=None, comment=None, reason=None, survey_id=None)
    ).rowcount
    escalations = c.execute(
        update(Escalation)
        .where(col(Escalation.customer_id) == customer_id)
        .values(customer_id=None, order_id=None, texts=[], taken_by=None)
    ).rowcount
    identities = c.execute(delete(ChannelIdentity).where(col(ChannelIdentity.customer_id) == customer_id))
    events = c.execute(delete(BusinessEvent).where(col(BusinessEvent.customer_id) == customer_id))
    c.execute(delete(LinkToken).where(col(LinkToken.customer_id) == customer_id))
    c.execute(delete(DueWork).where(col(DueWork.customer_id) == customer_id))
    c.execute(delete(OutboxMessage).where(col(OutboxMessage.customer_id) == customer_id))
    if not keep_conversation:
        c.execute(delete(Conversation).where(col(Conversation.customer_id) == customer_id))
    c.execute(
        update(SurveyInstance)
        .where(col(SurveyInstance.customer_id) == customer_id)
        .values(customer_id=None, order_id=None, ticket_id=None, placeholders={})
    )
    c.execute(delete(Ticket).where(col(Ticket.customer_id) == customer_id))
    c.execute(delete(Order).where(col(Order.customer_id) == customer_id))
    if chats:
        c.execute(delete(InboxUpdate).where(col(InboxUpdate.chat_key).in_(chats)))
    erase_connector_data(session, customer_id)  # e-mails/phones, raw webhook bodies naming them
    customer.name = None
    customer.opted_out = True
    customer.opted_out_at = customer.opted_out_at or now
    customer.erased_at = now
    customer.updated_at = now
    session.add(customer)
    return Erasure(
        int(answers or 0), int(escalations or 0), int(identities.rowcount or 0), int(events.rowcount or 0)
    )


def delete_old_comments(db: Database, before: datetime) -> int:
    """Remove comments (the customer's words) answered before ``before``; return how many."""
    with db.write() as session:
        result = session.connection().execute(
            update(Response)
            .where(col(Response.answered_at) < before, col(Response.comment).is_not(None))
            .values(comment=None)
        )
    return int(result.rowcount or 0)
