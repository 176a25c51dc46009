"""Reading Telegram updates: the chat they belong to, and what the customer did.

Untrusted input: validated by pydantic against the few fields cxbot reads (a schema of
Telegram's ``Update`` cut down to them: aiogram's full model costs ~10× more on the hot path and
reads nothing more we use), texts bounded to 4096 characters, anything else (edited messages,
stickers, groups, unknown update kinds) is ignored safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.channels.telegram.inbox import Incoming
from bot.security.hygiene import strip_control

MAX_TEXT = 4096


@dataclass(frozen=True)
class TextIn:
    """A private-chat text message (commands included)."""

    chat_id: int
    text: str
    language_code: str | None


@dataclass(frozen=True)
class CallbackIn:
    """An inline-button press."""

    chat_id: int
    query_id: str
    message_id: int | None
    data: str | None
    language_code: str | None


CustomerUpdate = TextIn | CallbackIn


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Chat(_Read):
    id: int
    type: str


class _User(_Read):
    id: int
    language_code: str | None = None


class _Message(_Read):
    message_id: int
    chat: _Chat
    from_user: _User | None = Field(default=None, alias="from")
    text: str | None = None
    caption: str | None = None  # a photo's or document's words: they join the case like a text


class _CallbackQuery(_Read):
    id: str
    from_user: _User = Field(alias="from")
    message: _Message | None = None  # also an "inaccessible message": chat and id only
    data: str | None = None


class _Update(_Read):
    update_id: int
    message: _Message | None = None
    callback_query: _CallbackQuery | None = None


def incoming(raw: dict[str, Any]) -> Incoming | None:
    """Return the inbox row for a raw update, or None when it has no usable ``update_id``."""
    update_id = raw.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    return Incoming(external_id=str(update_id), chat_key=_chat_key(raw), payload=raw)


def _chat_key(raw: dict[str, Any]) -> str:
    """The chat an update belongs to (its ordering key); "-" when it has none."""
    for key in ("message", "edited_message", "callback_query"):
        part = raw.get(key)
        if not isinstance(part, dict):
            continue
        message = part.get("message") if key == "callback_query" else part
        chat = message.get("chat") if isinstance(message, dict) else None
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return str(chat["id"])
        sender = part.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return str(sender["id"])
    return "-"


def parse(raw: dict[str, Any]) -> CustomerUpdate | None:
    """Return what the customer did in ``raw``, or None for updates cxbot ignores."""
    try:
        update = _Update.model_validate(raw)
    except ValidationError:
        return None
    if update.message is not None:
        return _text(update.message)
    query = update.callback_query
    if query is not None and query.message is not None and query.message.chat.type == "private":
        return CallbackIn(
            chat_id=query.message.chat.id,
            query_id=query.id,
            message_id=query.message.message_id,
            data=query.data,
            language_code=query.from_user.language_code,
        )
    return None


def _text(message: _Message) -> TextIn | None:
    words = message.text or message.caption
    if message.chat.type != "private" or not words:
        return None
    language = message.from_user.language_code if message.from_user else None
    # Control characters (NUL cannot even be stored by PostgreSQL) are stripped, the words kept.
    text = strip_control(words[:MAX_TEXT])
    return TextIn(chat_id=message.chat.id, text=text, language_code=language)


def command(text: str) -> tuple[str, str] | None:
    """Return (command, argument) for ``/cmd[@bot] arg``, lower-cased command; None for plain text."""
    if not text.startswith("/"):
        return None
    head, _, argument = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    if not name or not name.replace("_", "").isalnum():
        return None
    return name, argument.strip()
