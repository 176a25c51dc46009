"""Erasing a customer's rows inside the caller's transaction (bot.privacy.erase decides what).

Every place personal data lives is listed in ``bot.privacy.registry``; the statements reaching
each are here: key columns by the customer's id, free text cleared, raw payloads (inbox,
outbox) found by the caller's needles, connector data (contacts, webhook bodies; old bodies
after ``CXBOT_CONNECTOR_BODY_RETENTION_DAYS``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, or_, update
from sqlmodel import Session, col, select

from storage.db import Database
from storage.tables import (
    BusinessEvent,
    ChannelIdentity,
    ChatwootConversation,
    ConnectorDelivery,
    Conversation,
    Customer,
    CustomerContact,
    DueWork,
    Escalation,
    InboxUpdate,
    LinkToken,
    Order,
    OutboxMessage,
    Response,
    SendBudget,
    SurveyInstance,
    Ticket,
)


@dataclass
class Traces:
    """What the database holds about a customer that could identify them elsewhere."""

    addresses: list[str] = field(default_factory=list)  # chat ids and sender ids
    typed: list[Any] = field(default_factory=list)  # raw inbox payloads of their numeric chats
    ids: list[str] = field(default_factory=list)  # orders, tickets, events and their orders
    texts: list[str] = field(default_factory=list)  # comments and escalation words


def traces_of(session: Session, customer_id: str) -> Traces:
    """Collect the customer's chats, the raw updates of their chats, ids of orders, tickets and
    events, and the words they wrote."""
    found = Traces()
    for identity in session.exec(
        select(ChannelIdentity).where(col(ChannelIdentity.customer_id) == customer_id)
    ):
        found.addresses.append(identity.address)
        if identity.address.lstrip("-").isdigit():
            inbox = select(InboxUpdate).where(col(InboxUpdate.chat_key) == identity.address)
            found.typed += [message.payload for message in session.exec(inbox)]
    found.ids += [
        order.id for order in session.exec(select(Order).where(col(Order.customer_id) == customer_id))
    ]
    found.ids += [t.id for t in session.exec(select(Ticket).where(col(Ticket.customer_id) == customer_id))]
    for event in session.exec(select(BusinessEvent).where(col(BusinessEvent.customer_id) == customer_id)):
        found.ids += [event.event_id, *([event.order_id] if event.order_id else [])]
    for response in session.exec(select(Response).where(col(Response.customer_id) == customer_id)):
        if response.comment:
            found.texts.append(response.comment)
    for escalation in session.exec(select(Escalation).where(col(Escalation.customer_id) == customer_id)):
        found.texts += [str(text) for text in escalation.texts]
    return found


def scrub_payloads(
    session: Session, patterns: list[str], matches: Callable[[Any], bool], *, before: datetime | None = None
) -> int:
    """Delete processed inbox rows and unowned outbox rows whose payload text contains one of
    ``patterns`` (a LIKE prefilter) and ``matches``; return how many.

    Outbox rows of other customers are never touched (a namesake's question stays); inbox rows
    not yet processed stay too (they are still work to do).
    """
    if not patterns:
        return 0

    def holding(table: Any) -> Any:
        text = cast(table.c.payload, Text)
        return or_(*(text.contains(p, autoescape=True) for p in patterns))

    inbox = select(InboxUpdate).where(
        holding(InboxUpdate.__table__),  # type: ignore[attr-defined]  # SQLModel's metaclass does not declare it
        col(InboxUpdate.processed_at).is_not(None),
    )
    if before is not None:
        inbox = inbox.where(col(InboxUpdate.received_at) < before)
    outbox = select(OutboxMessage).where(
        holding(OutboxMessage.__table__),  # type: ignore[attr-defined]  # SQLModel's metaclass does not declare it
        col(OutboxMessage.customer_id).is_(None),
    )
    removed = 0
    for row in [*session.exec(inbox), *session.exec(outbox)]:
        if matches(row.payload):
            session.delete(row)
            removed += 1
    return removed


@dataclass(frozen=True)
class Erased:
    """What ``erase_customer_rows`` changed."""

    answers: int
    escalations: list[Escalation]  # anonymised: their posted cards must be edited too
    identities: int
    events: int


def erase_customer_rows(session: Session, customer_id: str, *, keep_conversation: bool) -> Erased:
    """Anonymise the customer's answers, escalations and surveys and delete every other row keyed
    by them (identities, events, links, timers, their outbox, orders, tickets, their chats' inbox
    and send slots, connector data). The customer row itself is the caller's.

    ``keep_conversation`` leaves the conversation row for the caller to reset.
    """
    c = session.connection()
    chats = [
        row.address
        for row in session.exec(
            select(ChannelIdentity).where(col(ChannelIdentity.customer_id) == customer_id)
        )
    ]
    escalations = list(session.exec(select(Escalation).where(col(Escalation.customer_id) == customer_id)))
    answers = c.execute(
        update(Response)
        .where(col(Response.customer_id) == customer_id)
        .values(customer_id=None, order_id=None, comment=None, reason=None, survey_id=None)
    ).rowcount
    c.execute(
        update(Escalation)
        .where(col(Escalation.customer_id) == customer_id)
        .values(customer_id=None, order_id=None, texts=[], taken_by=None)
    )
    identities = c.execute(delete(ChannelIdentity).where(col(ChannelIdentity.customer_id) == customer_id))
    events = c.execute(delete(BusinessEvent).where(col(BusinessEvent.customer_id) == customer_id))
    c.execute(delete(LinkToken).where(col(LinkToken.customer_id) == customer_id))
    c.execute(delete(DueWork).where(col(DueWork.customer_id) == customer_id))
    c.execute(delete(OutboxMessage).where(col(OutboxMessage.customer_id) == customer_id))
    if not keep_conversation:
        c.execute(delete(Conversation).where(col(Conversation.customer_id) == customer_id))
    for survey in session.exec(select(SurveyInstance).where(col(SurveyInstance.customer_id) == customer_id)):
        # the event id often carries the order number: replaced, the row kept for the figures
        survey.customer_id, survey.order_id, survey.ticket_id, survey.placeholders = None, None, None, {}
        survey.event_id = f"erased-{survey.id}"
        session.add(survey)
    c.execute(delete(Ticket).where(col(Ticket.customer_id) == customer_id))
    c.execute(delete(Order).where(col(Order.customer_id) == customer_id))
    if chats:
        c.execute(delete(InboxUpdate).where(col(InboxUpdate.chat_key).in_(chats)))
        c.execute(delete(SendBudget).where(col(SendBudget.key).in_(chats)))  # a chat's next send slot
    # e-mails/phones, Chatwoot contact links, raw webhook bodies naming them
    erase_connector_data(session, customer_id, [e.id for e in escalations if e.id is not None])
    session.flush()
    return Erased(int(answers or 0), escalations, int(identities.rowcount or 0), int(events.rowcount or 0))


def mark_erased(session: Session, customer: Customer, now: datetime) -> None:
    """Make the customer row a tombstone: no name, opted out, erased at ``now``."""
    customer.name = None
    customer.opted_out = True
    customer.opted_out_at = customer.opted_out_at or now
    customer.erased_at = now
    customer.updated_at = now
    session.add(customer)


def rekey_customer(session: Session, customer_id: str, new_id: str) -> None:
    """Give the customer row another id (the tombstone keeps a pseudonym, not the shop's id)."""
    session.flush()
    session.connection().execute(update(Customer).where(col(Customer.id) == customer_id).values(id=new_id))


def old_words(session: Session, before: datetime) -> tuple[list[str], list[Escalation]]:
    """Return the comments answered before ``before`` and the escalations opened before it with words."""
    comments = [
        r.comment
        for r in session.exec(
            select(Response).where(col(Response.answered_at) < before, col(Response.comment).is_not(None))
        )
        if r.comment
    ]
    old = [e for e in session.exec(select(Escalation).where(col(Escalation.opened_at) < before)) if e.texts]
    return comments, old


def clear_old_words(session: Session, before: datetime, escalations: list[Escalation]) -> int:
    """Clear the comments answered before ``before`` and the words of ``escalations``; delete the
    finished outbox rows created before it; return how many comments were cleared."""
    c = session.connection()
    result = c.execute(
        update(Response)
        .where(col(Response.answered_at) < before, col(Response.comment).is_not(None))
        .values(comment=None)
    )
    for escalation in escalations:
        escalation.texts = []
        session.add(escalation)
    c.execute(
        delete(OutboxMessage).where(
            col(OutboxMessage.created_at) < before, col(OutboxMessage.status).in_(("sent", "failed"))
        )
    )
    session.flush()
    return int(result.rowcount or 0)


def erase_connector_data(session: Session, customer_id: str, escalation_ids: Sequence[int] = ()) -> int:
    """Delete the customer's e-mails/phones and the links of their escalations to Chatwoot contacts,
    and blank the stored webhook bodies that name them (or their customer id); return how many
    deliveries were blanked. Inside the caller's transaction."""
    contacts = list(
        session.exec(select(CustomerContact.value).where(col(CustomerContact.customer_id) == customer_id))
    )
    c = session.connection()
    c.execute(delete(CustomerContact).where(col(CustomerContact.customer_id) == customer_id))
    if escalation_ids:
        c.execute(
            delete(ChatwootConversation).where(
                col(ChatwootConversation.escalation_id).in_(list(escalation_ids))
            )
        )
    # The raw bodies are JSON: an e-mail or phone appears as a string value, the shop's customer
    # id as a number or a string. LIKE over the body finds them without parsing every row.
    needles = [*contacts, f'"{customer_id}"', f": {customer_id},", f":{customer_id},"]
    body = col(ConnectorDelivery.body)
    result = c.execute(
        update(ConnectorDelivery)
        .where(body != "", or_(*(body.contains(n, autoescape=True) for n in needles)))
        .values(body="", detail="body erased (customer forgotten)")
    )
    return int(result.rowcount or 0)


def erase_old_bodies(db: Database, before: datetime) -> int:
    """Blank the raw bodies of connector deliveries received before ``before``; return how many.

    The row stays (connector, delivery id, topic, outcome, events), so a redelivery is still
    recognised as a duplicate and ``cxbot connectors`` still lists it; only what the platform
    sent about the person goes. A delivery still pending keeps its body until it is worked.
    """
    with db.write() as session:
        result = session.connection().execute(
            update(ConnectorDelivery)
            .where(
                col(ConnectorDelivery.received_at) < before,
                col(ConnectorDelivery.body) != "",
                col(ConnectorDelivery.status) != "pending",
            )
            .values(body="")
        )
    return int(result.rowcount or 0)
