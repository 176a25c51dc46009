"""Where personal data lives: every table and column that can hold a customer's name, ids or words.

``forget`` and the retention job both work from this list, so a new copy of personal data (a
table, a JSON payload, a message posted in a chat) is handled in one place — and the test
``tests/hostile/test_erasure_everywhere.py`` seeds a customer through every path and greps every
column of every table afterwards, so a copy missing here fails it.

How each place is handled (``Place.how``):

* ``key``: the column holds the customer's id; their rows are deleted or the column is cleared.
* ``text``: free text of the customer (comments, escalation texts); cleared.
* ``json``: a JSON payload that may quote the customer anywhere (raw Telegram updates, queued
  messages, cards quoting their words); rows are found by the customer's needles (name, ids,
  words) and dropped (see ``erase.scrub_payloads``).
* ``posted``: a message already delivered to a chat (the agents' card); edited to ``ERASED_TEXT``.
* ``derived``: counts computed from other places (no one's data of its own); dropped and counted
  again whenever what they were counted from changes, erasure and retention included.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

#: What a posted card says once its customer is erased (or its words are past retention).
ERASED_TEXT = "🗑 [cancellato] · [erased]"


@dataclass(frozen=True)
class Place:
    """One place personal data lives."""

    table: str
    column: str
    how: Literal["key", "text", "json", "posted", "derived"]
    holds: str


REGISTRY: tuple[Place, ...] = (
    Place("customers", "id", "key", "the shop's customer id (the tombstone keeps only its pseudonym)"),
    Place("customers", "name", "text", "the customer's name"),
    Place("channel_identities", "address", "key", "chat ids, Rasa senders"),
    Place("business_events", "payload", "json", "the event as received (name, ids, items)"),
    Place("business_events", "event_id", "key", "shop event ids (often carry order numbers)"),
    Place("orders", "id", "key", "order ids and items"),
    Place("tickets", "id", "key", "ticket ids"),
    Place("conversations", "state", "json", "the conversation state (pending question, words)"),
    Place("survey_instances", "placeholders", "json", "name, product, order in the question"),
    Place("survey_instances", "event_id", "key", "the event that scheduled the survey"),
    Place("survey_instances", "order_id", "key", "order and ticket ids"),
    Place("responses", "comment", "text", "the customer's words"),
    Place("responses", "reason", "text", "the reason they picked"),
    Place("responses", "customer_id", "key", "who answered (cleared: the score stays anonymous)"),
    Place("escalations", "texts", "text", "the customer's words quoted to the agents"),
    Place("escalations", "customer_id", "key", "who the case is about"),
    Place("escalations", "card_message_id", "posted", "the card posted in the agents' chat"),
    Place("outbox", "payload", "json", "messages to the customer, cards and relays to the agents"),
    Place(
        "inbox", "payload", "json", "raw updates: the customer's messages, agents' replies quoting the card"
    ),
    Place("link_tokens", "customer_id", "key", "deep-link tokens"),
    Place("due_work", "customer_id", "key", "timers"),
    Place("send_budget", "key", "key", "chat ids whose next send slot is booked (the outbound budget)"),
    # Connectors (storage/erasure.py): what shops, trackers and helpdesks sent about them.
    Place("connector_deliveries", "body", "json", "raw webhook bodies (name, e-mail, phone, address)"),
    Place("customer_contacts", "value", "key", "e-mails and phones learnt from the shop"),
    Place("chatwoot_conversations", "contact_id", "key", "the customer's contact in the shop's Chatwoot"),
    # The weekly report's counts of closed weeks (storage/report_cache.py): how many answers, and how
    # many with typed words, per stage, score, topics… Triggers on ``responses`` drop a week when
    # one of its answers changes, so ``forget`` and the retention pass (comments cleared) make the
    # next report count that week again from what is left.
    Place("report_cache", "commented", "derived", "answer counts per closed week, including typed comments"),
)


def pseudonym(customer_id: str) -> str:
    """Return the tombstone id of an erased customer: a hash, so the shop's id is gone.

    The tombstone lets a later event about the same person be recognised and refused (their
    data would otherwise be stored again) without keeping the id itself.
    """
    return "erased:" + hashlib.sha256(b"cxbot-erased:" + customer_id.encode()).hexdigest()[:40]
