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

from bot.privacy.registry import ERASED_TEXT, pseudonym
from flows.errors import NotFoundError
from storage import customers, erasure, repo
from storage.db import Database, Session
from storage.tables import Customer, Escalation

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
    traces = erasure.traces_of(session, customer.id)
    for address in traces.addresses:
        needles.ids.add(address)
        if address.lstrip("-").isdigit():
            needles.numbers.add(int(address))
    for payload in traces.typed:
        for typed in _texts_of(payload):
            needles.add_text(typed)
    needles.ids.update(traces.ids)
    for text in traces.texts:
        needles.add_text(text)
    return needles


def scrub_payloads(session: Session, needles: Needles, *, before: datetime | None = None) -> int:
    """Drop processed inbox rows and unowned outbox rows whose payload holds one of ``needles``.

    Outbox rows of other customers are never touched (a namesake's question stays); inbox rows
    not yet processed stay too (they are still work to do).
    """
    return erasure.scrub_payloads(session, needles.prefilter(), needles.found_in, before=before)


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
    return customers.find(session, pseudonym(customer_id)) is not None


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
        customer = customers.find(session, customer_id)
        if customer is None:
            raise NotFoundError(f"no customer {customer_id!r}")
        result = erase_personal_data(session, customer, now, keep_conversation=False)
        # The tombstone keeps a pseudonym, not the shop's id (nothing references the row any more).
        erasure.rekey_customer(session, customer_id, pseudonym(customer_id))
        return result


def erase_personal_data(
    session: Session, customer: Customer, now: datetime, *, keep_conversation: bool
) -> Erasure:
    """Erase ``customer``'s personal data inside the caller's transaction (see ``forget_customer``).

    ``keep_conversation`` leaves the conversation row for the caller to reset (the chat's own
    erasure request, which saves a fresh state in the same transaction).
    """
    needles = needles_of(session, customer)  # before the rows that tell them are gone
    erased = erasure.erase_customer_rows(session, customer.id, keep_conversation=keep_conversation)
    payloads = scrub_payloads(session, needles)
    cards = erase_posted_cards(session, erased.escalations, now)
    erasure.mark_erased(session, customer, now)
    return Erasure(erased.answers, len(erased.escalations), erased.identities, erased.events, payloads, cards)


def delete_old_comments(db: Database, before: datetime, now: datetime | None = None) -> int:
    """Remove the customers' words answered before ``before`` from every copy; return how many comments.

    Besides ``responses.comment``: the texts of escalations opened before ``before`` (their
    posted cards are edited to ``ERASED_TEXT``), processed inbox rows received before it that
    quote those words, and finished outbox rows created before it (sent messages and cards).
    """
    with db.write() as session:
        needles = Needles()
        comments, old = erasure.old_words(session, before)
        for comment in comments:
            needles.add_text(comment)
        for escalation in old:
            for text in escalation.texts:
                needles.add_text(str(text))
        cleared = erasure.clear_old_words(session, before, old)
        scrub_payloads(session, needles, before=before)
        erase_posted_cards(session, old, now or before)
    return cleared
