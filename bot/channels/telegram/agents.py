"""The agents' Telegram group: a channel of its own, next to the customers' chats.

Its updates are stored in their own inbox (``updates.incoming`` routes them by chat), read once
here into envelopes of the desk's events (``AgentPress``, ``AgentMessage``), and handled by the
desk (``bot.escalations.telegram_desk``);
what it sends (cards, notes, customers' media copied onto a case) is outbox rows of its own
channel, ``AGENTS_CHANNEL``, delivered by its own sender.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.channels.base import Envelope, Ignored, Unparseable
from bot.channels.telegram.updates import Update, User, read
from bot.delivery.limited_calls import BotCall
from bot.engine.wiring import App
from bot.escalations.desk import Also
from bot.escalations.records import AGENTS_CHANNEL, DeskConfig
from bot.escalations.telegram_desk import Agent, AgentMessage, AgentPress, handle_agent_event

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
            event = AgentPress(update.data, _agent(user))
        elif update.kind != "message" or user is None:
            event = Ignored(update.kind)
        elif user.is_bot:
            event = Ignored("message:from a bot")
        elif update.text is not None and update.text.startswith("/"):
            event = Ignored("message:command")
        elif update.text is None and update.media is None:
            event = Ignored("message:service")
        else:
            event = AgentMessage(update.text, update.media, _agent(user), update.reply_to, update.thread_id)
        return Envelope(
            AGENTS_CHANNEL, update.key, event, message_id=update.message_id, press_id=update.query_id
        )


def _agent(user: User) -> Agent:
    return Agent(user.id, user.username, user.first_name)


async def handle_agent_update(
    app: App,
    update: dict[str, Any],
    *,
    call: BotCall,
    config: DeskConfig | None = None,
    now: datetime | None = None,
    within: Also = None,
) -> str:
    """Read one raw update of the agents' chat and handle it (see ``handle_agent_event``)."""
    config = config or DeskConfig.from_settings(app.settings, app.journey)
    envelope = TelegramAgents(config.agents_chat_id).parse(update)
    if isinstance(envelope, Unparseable):
        return "ignored"
    return await handle_agent_event(app, envelope, call=call, config=config, now=now, within=within)
