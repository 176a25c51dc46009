"""What the Rasa actions need from cxbot, as blocking calls (run them with ``asyncio.to_thread``).

Replies to a Rasa request are delivered inline, in the action's HTTP response: the outbox rows a
feed wrote for the sender are taken (marked sent) in the feed's own transaction, so the proactive
sender (``delivery.py``) never pushes them a second time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.engine.apply import Address
from bot.engine.wiring import App
from flows.conversation import ConversationState, Inbound
from flows.conversation.render import fill, reason_rows, score_rows
from flows.conversation.state import ActiveSurvey, Phase
from flows.scales import Lang
from storage import claims, customers, repo
from storage.db import Session

CHANNEL = "rasa"
_MAX_ID = 128


def resolve_customer(app: App, sender_id: str, slot_customer: object) -> str | None:
    """Return the customer behind a Rasa conversation, or None when unknown.

    The sender bound in channel_identities wins; otherwise the ``cxbot_customer_id`` slot, which
    the shop's own code must fill (never mapped from user entities), naming an existing customer.
    """
    with app.db.read() as session:
        identity = repo.find_identity(session, CHANNEL, sender_id[:_MAX_ID])
        if identity is not None:
            return identity.customer_id
        valid = isinstance(slot_customer, str) and 0 < len(slot_customer) <= _MAX_ID
        if valid and customers.find(session, str(slot_customer)) is not None:
            return str(slot_customer)
    return None


def _take(
    session: Session, sender_id: str, now: datetime, message_id: int | None = None
) -> list[dict[str, Any]]:
    """Mark the sender's pending outbox rows sent and return their payloads, oldest first.

    Rows leased by the proactive sender are left to it, except ``message_id`` (the row whose
    trigger Rasa is running right now).
    """
    return claims.take_for_inline_reply(session, CHANNEL, sender_id, now, also=message_id)


def feed(
    app: App, customer_id: str, sender_id: str, inbound: Inbound
) -> tuple[list[dict[str, Any]], ConversationState]:
    """Feed ``inbound`` as the customer, from this Rasa sender; return the replies and the new state."""
    now = app.service.clock()
    taken: list[dict[str, Any]] = []

    def take(session: Session) -> None:
        taken.extend(_take(session, sender_id, now))

    result = app.service.feed(customer_id, inbound, via=Address(CHANNEL, sender_id), now=now, within=take)
    return taken, result.state


def take_pending(app: App, sender_id: str, message_id: int | None) -> list[dict[str, Any]]:
    """Return (and mark sent) the sender's undelivered messages, including ``message_id``."""
    now = app.service.clock()
    with app.db.write() as session:
        return _take(session, sender_id, now, message_id)


def state_of(app: App, customer_id: str) -> ConversationState:
    """Return the customer's conversation state (a fresh one when there is none yet)."""
    state = app.service.state_of(customer_id)
    if state is not None:
        return state
    with app.db.read() as session:
        customer = customers.find(session, customer_id)
        language = Lang(customer.language) if customer else app.journey.default_language
    return ConversationState(language=language)


def open_survey(state: ConversationState, now: datetime) -> ActiveSurvey | None:
    """Return the survey whose score is awaited now, or None."""
    active = state.active
    if active is None or active.phase is not Phase.SCORE or now >= active.expires_at:
        return None
    return active


def question(app: App, state: ConversationState, active: ActiveSurvey, phase: Phase) -> dict[str, Any]:
    """Return the outbox-shaped payload of the survey's score or follow-up question."""
    stage = app.journey.stage(active.stage)
    lang = state.language
    if phase is Phase.REASON:
        text = fill(app.journey, stage.follow_up, lang, active.placeholders)
        rows = reason_rows(stage, app.journey.messages.skip_label, lang)
    else:
        text = fill(app.journey, stage.question, lang, active.placeholders)
        rows = score_rows(stage.metric)
    return {
        "text": text,
        "rows": [[{"label": c.label, "value": c.value} for c in row] for row in rows],
        "survey_id": active.survey_id,
        "language": lang.value,
    }


def say(app: App, state: ConversationState, name: str) -> dict[str, Any]:
    """Return one of the journey's own messages (e.g. ``nothing_pending``) in the customer's language."""
    texts = getattr(app.journey.messages, name)
    return {"text": fill(app.journey, texts, state.language), "rows": [], "language": state.language.value}
