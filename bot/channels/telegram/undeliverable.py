"""The agent always knows: a customer who blocked the bot, or a message that could not be
delivered for good, is shown on the customer's open case: its card is edited to say so (in the
desk language) and a note replying to it tells the agents."""

from __future__ import annotations

from datetime import datetime

import structlog

from bot.channels.telegram.transport import CHANNEL
from bot.escalations.records import NOTE_KIND, DeskConfig, post_card, queue_on_case
from storage import repo
from storage.db import Database

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
    db: Database, address: str, what: str, now: datetime, config: DeskConfig, *, key: str = ""
) -> bool:
    """Show the change on the open case of the customer of chat ``address`` (its card edited, a
    note on it queued); return True if there was such a case.

    ``what``: "blocked", "unblocked" or "failed"; in the desk's language (``config.lang``), so the
    agents read one language. ``key`` makes the note unique (once per case for blocked/unblocked
    changes, once per message for failures).
    """
    with db.write() as session:
        identity = repo.find_identity(session, CHANNEL, address)
        if identity is None:
            return False
        escalation = repo.latest_open_escalation(session, identity.customer_id)
        if escalation is None or not escalation.card_chat_id:
            return False
        post_card(session, escalation, config, now)  # the card shows whether the customer is reachable
        note = {"escalation_id": escalation.id, "text": _TEXTS[what].get(config.lang, _TEXTS[what]["it"])}
        once = f"tg-undeliverable:{escalation.id}:{what}:{key}"[:128]
        queue_on_case(session, escalation, NOTE_KIND, note, now, once)
    log.info("agents_told_undeliverable", what=what, escalation_id=escalation.id)
    return True
