"""Erasing a customer's personal data while keeping anonymous scores for the statistics.

Every place personal data lives is listed in ``bot.privacy.registry``; this module reaches each:
key columns by the customer's id, free text cleared, JSON payloads (inbox, outbox) found by the
customer's needles (name, ids, words) and dropped, and the cards already posted in the agents'
chat edited to ``ERASED_TEXT``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, or_, update
from sqlmodel import Session, col, select

from bot.connectors.privacy import erase_connector_data
from bot.privacy.registry import ERASED_TEXT, pseudonym
from flows.errors import NotFoundError
from storage import repo
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
    SendBudget,
    SurveyInstance,
    Ticket,
)

CARD_KIND = "agent_card"  # bot.escalations.records.CARD_KIND (not imported: privacy must not need the desk)
AGENTS_CHANNEL = "telegram-agents"  # bot.escalations.records.AGENTS_CHANNEL, likewise
#: Words shorter than this are not searched for in payloads (a "4", an "ok" identify nobody).
MIN_WORDS = 4


@dataclass(frozen=True)
class Erasure:
    """What ``forget`` removed or anonymised."""

    answers_anonymised: int
    escalations_anonymised: int
    identities_removed: int
    events_removed: int
    payloads_removed: int = 0
    cards_erased: int = 0


@dataclass
class Needles:
    """What identifies a customer in a payload: exact ids, chat numbers, and their words."""

    ids: set[str] = field(default_factory=set)
    numbers: set[int] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)

    def add_text(self, value: str | None) -> None:
        """Add free text (a name, a comment) if long enough to identify anything."""
        if value and len(value.strip()) >= MIN_WORDS:
            self.texts.add(value.strip())

    def _patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(r"(?<!\w)" + re.escape(t) + r"(?!\w)", re.IGNORECASE) for t in self.texts]

    def found_in(self, payload: Any) -> bool:
        """Return True when ``payload`` (JSON) holds one of the ids, numbers or texts."""
        patterns = self._patterns()

        def walk(node: Any) -> bool:
            if isinstance(node, bool):
                return False
            if isinstance(node, int):
                return node in self.numbers
            if isinstance(node, str):
                if node in self.ids or (node.lstrip("-").isdigit() and int(node) in self.numbers):
                    return True
                plain = html.unescape(node)
                return any(p.search(node) or p.search(plain) for p in patterns)
            if isinstance(node, dict):
                return any(walk(v) for v in node.values())
            if isinstance(node, list):
                return any(walk(v) for v in node)
            return False

        return walk(payload)

    def prefilter(self) -> list[str]:
        """Return substrings of the stored JSON text that a matching row must contain (for LIKE)."""
        found = {json.dumps(v)[1:-1] for v in self.ids}
        found |= {str(n) for n in self.numbers}
        found |= {json.dumps(t[:40])[1:-1] for t in self.texts}
        return sorted(x for x in found if x)


def _texts_of(payload: Any) -> Iterable[str]:
    """Yield the texts a customer typed in a raw update (message text, captions)."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in ("text", "caption") and isinstance(value, str):
                yield value
            else:
                yield from _texts_of(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from _texts_of(value)


def needles_of(session: Session, customer: Customer) -> Needles:
    """Collect what identifies ``customer`` anywhere: name, ids, chats, orders, events, words."""
    needles = Needles(ids={customer.id})
    needles.add_text(customer.name)
    for part in (customer.name or "").split():
        needles.add_text(part)
    for identity in session.exec(
        select(ChannelIdentity).where(col(ChannelIdentity.customer_id) == customer.id)
    ):
        needles.ids.add(identity.address)
        if identity.address.lstrip("-").isdigit():
            needles.numbers.add(int(identity.address))
            for message in session.exec(
                select(InboxUpdate).where(col(InboxUpdate.chat_key) == identity.address)
            ):
                for typed in _texts_of(message.payload):
                    needles.add_text(typed)
    for order in session.exec(select(Order).where(col(Order.customer_id) == customer.id)):
        needles.ids.add(order.id)
    for ticket in session.exec(select(Ticket).where(col(Ticket.customer_id) == customer.id)):
        needles.ids.add(ticket.id)
    for event in session.exec(select(BusinessEvent).where(col(BusinessEvent.customer_id) == customer.id)):
        needles.ids.add(event.event_id)
        if event.order_id:
            needles.ids.add(event.order_id)
    for response in session.exec(select(Response).where(col(Response.customer_id) == customer.id)):
        needles.add_text(response.comment)
    for escalation in session.exec(select(Escalation).where(col(Escalation.customer_id) == customer.id)):
        for text in escalation.texts:
            needles.add_text(str(text))
    return needles


def scrub_payloads(session: Session, needles: Needles, *, before: datetime | None = None) -> int:
    """Drop processed inbox rows and unowned outbox rows whose payload holds one of ``needles``.

    Outbox rows of other customers are never touched (a namesake's question stays); inbox rows
    not yet processed stay too (they are still work to do).
    """
    patterns = needles.prefilter()
    if not patterns:
        return 0

    def holding(table: Any) -> Any:
        text = cast(table.c.payload, Text)
        return or_(*(text.contains(p, autoescape=True) for p in patterns))

    inbox = select(InboxUpdate).where(
        holding(InboxUpdate.__table__),  # type: ignore[attr-defined]
        col(InboxUpdate.processed_at).is_not(None),
    )
    if before is not None:
        inbox = inbox.where(col(InboxUpdate.received_at) < before)
    outbox = select(OutboxMessage).where(
        holding(OutboxMessage.__table__),  # type: ignore[attr-defined]
        col(OutboxMessage.customer_id).is_(None),
    )
    removed = 0
    for row in [*session.exec(inbox), *session.exec(outbox)]:
        if needles.found_in(row.payload):
            session.delete(row)
            removed += 1
    return removed


def erase_posted_cards(session: Session, escalations: list[Escalation], now: datetime) -> int:
    """Queue an edit of each escalation's posted card to ``ERASED_TEXT`` (buttons removed)."""
    count = 0
    for escalation in escalations:
        if escalation.id is None or escalation.card_message_id is None or escalation.card_chat_id is None:
            continue
        repo.enqueue_message(
            session,
            channel=AGENTS_CHANNEL,
            address=escalation.card_chat_id,
            kind=CARD_KIND,
            payload={"text": ERASED_TEXT, "rows": [], "escalation_id": escalation.id, "parse_mode": "HTML"},
            now=now,
            dedupe_key=f"esc:{escalation.id}:erased:{escalation.card_version}",
        )
        count += 1
    return count


def erased_customer_exists(session: Session, customer_id: str) -> bool:
    """Return True when ``customer_id`` was erased with ``forget`` (its tombstone exists)."""
    return session.get(Customer, pseudonym(customer_id)) is not None


def forget_customer(db: Database, customer_id: str, now: datetime) -> Erasure:
    """Erase a customer's personal data (name, chat ids, comments, events); keep anonymous scores.

    Scores stay (stage, metric, score, language, channel, time) with no customer, order or words,
    so weekly figures are unchanged. Pending surveys are cancelled; the customer row remains as a
    tombstone keyed by ``registry.pseudonym`` (opted out, erased_at set), so a later event about
    the same person is refused instead of storing their data again.

    Raises:
        NotFoundError: when no such customer exists.
    """
    with db.write() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFoundError(f"no customer {customer_id!r}")
        result = erase_personal_data(session, customer, now, keep_conversation=False)
        # The tombstone keeps a pseudonym, not the shop's id (nothing references the row any more).
        session.flush()
        session.connection().execute(
            update(Customer).where(col(Customer.id) == customer_id).values(id=pseudonym(customer_id))
        )
        return result


def erase_personal_data(
    session: Session, customer: Customer, now: datetime, *, keep_conversation: bool
) -> Erasure:
    """Erase ``customer``'s personal data inside the caller's transaction (see ``forget_customer``).

    ``keep_conversation`` leaves the conversation row for the caller to reset (the chat's own
    erasure request, which saves a fresh state in the same transaction).
    """
    customer_id = customer.id
    needles = needles_of(session, customer)  # before the rows that tell them are gone
    c = session.connection()
    # Inbox rows hold raw updates (message texts) keyed by chat: find the chats first.
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
    escalated = c.execute(
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
    surveys = list(session.exec(select(SurveyInstance).where(col(SurveyInstance.customer_id) == customer_id)))
    for (
        survey
    ) in surveys:  # the event id often carries the order number: replaced, the row kept for the figures
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
    payloads = scrub_payloads(session, needles)
    cards = erase_posted_cards(session, escalations, now)
    customer.name = None
    customer.opted_out = True
    customer.opted_out_at = customer.opted_out_at or now
    customer.erased_at = now
    customer.updated_at = now
    session.add(customer)
    return Erasure(
        int(answers or 0),
        int(escalated or 0),
        int(identities.rowcount or 0),
        int(events.rowcount or 0),
        payloads,
        cards,
    )


def delete_old_comments(db: Database, before: datetime, now: datetime | None = None) -> int:
    """Remove the customers' words answered before ``before`` from every copy; return how many comments.

    Besides ``responses.comment``: the texts of escalations opened before ``before`` (their
    posted cards are edited to ``ERASED_TEXT``), processed inbox rows received before it that
    quote those words, and finished outbox rows created before it (sent messages and cards).
    """
    with db.write() as session:
        needles = Needles()
        for response in session.exec(
            select(Response).where(col(Response.answered_at) < before, col(Response.comment).is_not(None))
        ):
            needles.add_text(response.comment)
        old = [
            e for e in session.exec(select(Escalation).where(col(Escalation.opened_at) < before)) if e.texts
        ]
        for escalation in old:
            for text in escalation.texts:
                needles.add_text(str(text))
        c = session.connection()
        result = c.execute(
            update(Response)
            .where(col(Response.answered_at) < before, col(Response.comment).is_not(None))
            .values(comment=None)
        )
        for escalation in old:
            escalation.texts = []
            session.add(escalation)
        c.execute(
            delete(OutboxMessage).where(
                col(OutboxMessage.created_at) < before, col(OutboxMessage.status).in_(("sent", "failed"))
            )
        )
        session.flush()
        scrub_payloads(session, needles, before=before)
        erase_posted_cards(session, old, now or before)
    return int(result.rowcount or 0)
