"""The agent always knows: a customer who blocked the bot, or a message that could not be
delivered for good, is told in the agents' group on the customer's open case."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlmodel import col, select

from bot.channels.telegram.transport import CHANNEL
from bot.escalations.records import NOTE_KIND
from storage import repo
from storage.db import Database
from storage.tables import Escalation

log = structlog.get_logger(__name__)

_TEXTS = {
    "blocked": {
        "it": "⚠️ Il bot è stato bloccato: i messaggi in chat non vengono più consegnati.",
        "en": "⚠️ The customer blocked the bot: messages are no longer delivered.",
    },
    "unblocked": {
        "it": "ℹ️ Il bot è stato riattivato: i messaggi vengono di nuovo consegnati.",
        "en": "ℹ️ The customer started the bot again.",
    },
    "failed": {
        "it": "⚠️ Un messaggio in chat non è stato consegnato (errore definitivo di Telegram).",
        "en": "⚠️ A message to the customer could not be delivered (Telegram refused it for good).",
    },
}


def tell_agents(
    db: Database, address: str, what: str, now: datetime, *, key: str = "", lang: str = "it"
) -> bool:
    """Queue a note on the open case of the customer of chat ``address``; return True if one was.

    ``what``: "blocked", "unblocked" or "failed"; ``lang``: the desk's language (it|en), so the
    agents read one language. ``key`` makes the note unique (once per case for blocked/unblocked
    changes, once per message for failures).
    """
    with db.write() as session:
        identity = repo.find_identity(session, CHANNEL, address)
        if identity is None:
            return False
        escalation = session.exec(
            select(Escalation)
            .where(
                col(Escalation.customer_id) == identity.customer_id,
                col(Escalation.status).in_(("open", "taken")),
            )
            .order_by(col(Escalation.id).desc())
        ).first()
        if escalation is None or not escalation.card_chat_id:
            return False
        repo.enqueue_message(
            session,
            channel=CHANNEL,
            address=escalation.card_chat_id,
            payload={"escalation_id": escalation.id, "text": _TEXTS[what].get(lang, _TEXTS[what]["it"])},
            now=now,
            customer_id=identity.customer_id,
            kind=NOTE_KIND,
            dedupe_key=f"tg-undeliverable:{escalation.id}:{what}:{key}"[:128],
        )
    log.info("agents_told_undeliverable", what=what, escalation_id=escalation.id)
    return True
