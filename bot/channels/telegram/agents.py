"""The agents' Telegram group: a channel of its own, next to the customers' chats.

Its updates are stored in their own inbox (``updates.incoming`` routes them by chat), read once
here into envelopes of desk events, and handled by the desk (``bot.escalations.telegram_desk``);
what it sends (cards, notes, customers' media copied onto a case) is outbox rows of its own
channel, ``AGENTS_CHANNEL``, delivered by its own sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.channels.base import Envelope, Ignored, Unparseable
from bot.channels.telegram.updates import Update, User, read
from bot.escalations.records import AGENTS_CHANNEL


@dataclass(frozen=True)
class AgentPress:
    """Someone pressed a card's button (take, resolve, hand back): its signed data."""

    data: str | None
    user: User


@dataclass(frozen=True)
class AgentMessage:
    """Someone wrote in the agents' group: words, or media (a photo, a document, a voice note…),
    perhaps replying to a card (``reply_to``) or in a case's forum topic (``thread_id``)."""

    text: str | None
    media: str | None
    user: User
    reply_to: int | None = None
    thread_id: int | None = None


DeskEvent = AgentPress | AgentMessage | Ignored


class TelegramAgents:
    """Reads the agents' group's updates: button presses and messages; the rest is ``Ignored``."""

    name = AGENTS_CHANNEL

    def __init__(self, agents_chat: int | None) -> None:
        self.agents_chat = agents_chat

    def parse(self, raw: dict[str, Any]) -> Envelope[DeskEvent] | Unparseable:
        """Return the envelope of ``raw`` (never raises)."""
        update = read(raw)
        return update if isinstance(update, Unparseable) else self.envelope(update)

    def envelope(self, update: Update) -> Envelope[DeskEvent]:
        """Return what ``update`` means for the agents' desk."""
        event: DeskEvent
        user = update.user
        if self.agents_chat is None or update.chat_id != self.agents_chat:
            event = Ignored(f"{update.kind}:not the agents' chat")
        elif update.kind == "callback_query" and user is not None:
            event = AgentPress(update.data, user)
        elif update.kind != "message" or user is None:
            event = Ignored(update.kind)
        elif user.is_bot:
            event = Ignored("message:from a bot")
        elif update.text is not None and update.text.startswith("/"):
            event = Ignored("message:command")
        elif update.text is None and update.media is None:
            event = Ignored("message:service")
        else:
            event = AgentMessage(update.text, update.media, user, update.reply_to, update.thread_id)
        return Envelope(
            AGENTS_CHANNEL, update.key, event, message_id=update.message_id, press_id=update.query_id
        )
