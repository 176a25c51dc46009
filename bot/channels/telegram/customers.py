"""The customers' Telegram channel: each update of a private chat read once into an ``Envelope``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.channels import callbacks
from bot.channels.base import Edited, Envelope, Ignored, Media, Membership, Refused, Unparseable
from bot.channels.telegram import texts
from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import Update, command, read
from flows.conversation import ButtonPress, Command, CommandName, CustomerText, Inbound, Started

COMMANDS = {
    "help": CommandName.HELP,
    "aiuto": CommandName.HELP,
    "language": CommandName.LANGUAGE,
    "lingua": CommandName.LANGUAGE,
    "stop": CommandName.STOP,
    "privacy": CommandName.PRIVACY,
}

#: What a customer's update can be: a conversation inbound (fed to the service) or a channel event.
CustomerEvent = Inbound | Media | Edited | Membership | Refused | Ignored
#: The conversation inbounds among them (``Service.feed_many`` takes these).
FEEDABLE = (CustomerText, ButtonPress, Started, Command)


class TelegramCustomers:
    """Reads the customers' updates: texts, commands, button presses (signature checked), media,
    edits and blocks of private chats; everything else is ``Ignored`` by kind."""

    name = CHANNEL

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def parse(self, raw: dict[str, Any]) -> Envelope[CustomerEvent] | Unparseable:
        """Return the envelope of ``raw`` (never raises)."""
        update = read(raw)
        return update if isinstance(update, Unparseable) else self.envelope(update)

    def envelope(self, update: Update) -> Envelope[CustomerEvent]:
        """Return what ``update`` means for the customers' channel."""
        hint = texts.language_of(update.user.language_code if update.user else None)

        def wrap(event: CustomerEvent, **more: Any) -> Envelope[CustomerEvent]:
            return Envelope(CHANNEL, update.key, event, hint, **more)

        kind, chat_type = update.kind, update.chat_type
        if kind == "callback_query":
            if update.chat_id is None:  # a press on an inline-mode message: no chat to answer in
                return wrap(Ignored("callback_query:inline"), press_id=update.query_id)
            if chat_type != "private":
                return wrap(Ignored(f"callback_query:{chat_type}"), press_id=update.query_id)
            press = callbacks.verify(self.secret, update.key, update.data)
            if press is None:
                return wrap(Refused("forged or malformed callback"), press_id=update.query_id)
            inbound = ButtonPress(survey_id=press.survey_id, value=press.value)
            return wrap(inbound, message_id=update.message_id, press_id=update.query_id)
        if kind == "my_chat_member":
            if chat_type != "private":
                return wrap(Ignored(f"{kind}:{chat_type}"))
            return wrap(Membership(blocked=update.status in ("kicked", "left")))
        if kind not in ("message", "edited_message"):
            return wrap(Ignored(kind))
        if chat_type != "private":
            return wrap(Ignored(f"{kind}:{chat_type}"))
        text = update.text
        if kind == "edited_message":
            if not text:
                return wrap(Ignored("edited_message:media"))
            written = datetime.fromtimestamp(update.date, tz=UTC) if update.date is not None else None
            return wrap(Edited(text, written), message_id=update.message_id)
        if text:
            parsed = command(text)
            if parsed is not None and parsed[0] == "start":  # a deep link's token names the customer
                return wrap(Started(bound=False), message_id=update.message_id, start_token=parsed[1] or None)
            return wrap(_typed(text, parsed), message_id=update.message_id)
        if update.media is not None:
            return wrap(Media(update.media), message_id=update.message_id)
        return wrap(Ignored("message:service"))  # a pinned message, a new chat photo, a payment…


def _typed(text: str, parsed: tuple[str, str] | None) -> Inbound:
    """A command cxbot knows, else the words themselves."""
    if parsed is not None and parsed[0] in COMMANDS:
        return Command(name=COMMANDS[parsed[0]], argument=parsed[1][:64])
    return CustomerText(text=text)
