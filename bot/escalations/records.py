"""Session-level writes of the agents' desk: card versions, relays, closing answers.

Everything here runs inside the caller's transaction (a ``Service.feed`` or a desk operation),
so an escalation and the outbox messages about it are stored together or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.escalations import audit, card
from bot.infra.settings import Settings
from flows.errors import ConfigError
from flows.journey import Journey
from flows.scales import Lang
from storage import escalations as escalation_store
from storage import repo
from storage.db import Session
from storage.tables import Escalation, Response

#: The agents' Telegram group is a channel of its own: its outbox (and inbox) rows carry this name.
AGENTS_CHANNEL = "telegram-agents"
#: The customers' Telegram channel (``bot.channels.telegram.transport.CHANNEL``): a message of
#: theirs can be copied onto the case in the agents' group.
TELEGRAM = "telegram"
COPY_KIND = "copy"  # outbox kind: a customer's message copied onto the case (``copyMessage``)
CARD_KIND = "agent_card"  # outbox kind: send the card, or edit it once it has a message id
NOTE_KIND = "agent_message"  # outbox kind: a message in the escalation's thread, replying to the card


@dataclass(frozen=True)
class DeskConfig:
    """What the desk needs from the settings."""

    agents_chat_id: int | None
    agent_ids: frozenset[int]
    forum: bool
    lang: str
    tz: tzinfo
    secret: bytes
    mentions: str
    helpdesk: bool
    email: bool
    stage_names: Mapping[str, str] = field(default_factory=dict)  # stage id → name in ``lang``

    @classmethod
    def from_settings(cls, settings: Settings, journey: Journey | None = None) -> DeskConfig:
        """Return the desk configuration (stage names from ``journey`` when given).

        Raises:
            ConfigError: when the company timezone is unknown.
        """
        try:
            tz = ZoneInfo(settings.company_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown timezone {settings.company_timezone!r}") from exc
        secret_source = (
            settings.link_secret or settings.telegram_token or settings.events_secret
        )  # any configured secret; a fixed one only in development
        raw = secret_source.get_secret_value() if secret_source else "cxbot-development-only"
        desk_lang = desk_language(settings)
        return cls(
            agents_chat_id=settings.agents_chat_id,
            agent_ids=frozenset(settings.agent_ids),
            forum=settings.agents_forum,
            lang=desk_lang,
            tz=tz,
            secret=hashlib.sha256(b"cxbot-desk:" + raw.encode()).digest(),
            mentions=settings.sla_mentions,
            helpdesk=bool(settings.helpdesk_webhook_url),
            email=bool(settings.smtp_host and settings.smtp_to),
            stage_names=(
                {stage.id: stage.name(Lang(desk_lang)) for stage in journey.stages}
                if journey is not None
                else {}
            ),
        )


def desk_language(settings: Settings) -> str:
    """Return the agents' language: the desk's, else the report's (it|en; others read English)."""
    lang = (settings.desk_language or settings.report_language or "it")[:2]
    return lang if lang in ("it", "en") else "en"


def history(session: Session, customer_id: str | None, limit: int = 6) -> list[Response]:
    """Return the customer's latest stored answers, newest first."""
    if customer_id is None:
        return []
    return escalation_store.latest_answers(session, customer_id, limit)


def post_card(session: Session, escalation: Escalation, config: DeskConfig, now: datetime) -> None:
    """Bump the card's version and queue it (new card, or an edit of the posted one)."""
    escalation.card_version += 1
    escalation.updated_at = max(escalation.updated_at, now)
    escalation_store.save(session, escalation)
    if config.agents_chat_id is None:
        return
    assert escalation.id is not None
    escalation.card_chat_id = str(config.agents_chat_id)
    customer = escalation_store.customer_of_case(session, escalation)
    text, rows = card.render_card(
        escalation,
        customer,
        history(session, escalation.customer_id),
        lang=config.lang,
        tz=config.tz,
        secret=config.secret,
        stage_names=config.stage_names,
        reach=repo.customer_reach(session, escalation.customer_id) if escalation.customer_id else None,
    )
    trail = audit.card_lines(audit.trail(session, escalation.id), config.lang, config.tz)
    if trail:  # who did what, when: visible to every agent on the case itself
        text = "\n".join([text, "", *trail])
    repo.enqueue_message(
        session,
        channel=AGENTS_CHANNEL,
        address=str(config.agents_chat_id),
        kind=CARD_KIND,
        payload=card.as_payload(text, rows, escalation, version=escalation.card_version),
        now=now,
        customer_id=escalation.customer_id,
        dedupe_key=f"esc:{escalation.id}:v{escalation.card_version}",
    )


def queue_on_case(
    session: Session,
    escalation: Escalation,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    dedupe_key: str | None = None,
) -> None:
    """Queue an agents' outbox row in the chat the case's card was posted in (nothing without one)."""
    if escalation.card_chat_id is None or escalation.id is None:
        return
    repo.enqueue_message(
        session,
        channel=AGENTS_CHANNEL,
        address=escalation.card_chat_id,
        kind=kind,
        payload=payload,
        now=now,
        customer_id=escalation.customer_id,
        dedupe_key=dedupe_key,
    )


def post_note(session: Session, escalation: Escalation, text: str, now: datetime) -> None:
    """Queue an HTML message in the escalation's thread (a relay, a nudge), replying to its card.

    Goes to the chat the card was posted in; nothing when no card was posted (no agents' chat).
    """
    queue_on_case(session, escalation, NOTE_KIND, card.as_payload(text, [], escalation), now)


def copy_onto_case(
    session: Session, escalation: Escalation, chat: str, message_id: int, now: datetime
) -> None:
    """Queue a copy of the customer's Telegram message ``message_id`` (chat ``chat``) into the
    agents' chat, replying to the case's card (nothing when no card was posted)."""
    payload = {
        "from_chat_id": int(chat),
        "message_id": message_id,
        "reply_to": escalation.card_message_id,
        "thread_id": escalation.thread_id,
        "escalation_id": escalation.id,
    }
    queue_on_case(session, escalation, COPY_KIND, payload, now, dedupe_key=f"tg-copy:{chat}:{message_id}")


def relay_to_agent(session: Session, escalation_id: int, text: str, now: datetime) -> None:
    """Queue the customer's words for the agents (nothing when the escalation is gone)."""
    escalation = escalation_store.get(session, escalation_id)
    if escalation is None:
        return
    customer = escalation_store.customer_of_case(session, escalation)
    post_note(session, escalation, card.render_relay(customer, escalation, text), now)
