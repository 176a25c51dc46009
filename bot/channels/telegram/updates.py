"""Reading Telegram updates: the chat they belong to, and what the customer did.

Untrusted input, read leniently: the raw JSON Telegram sent is stored as it is (see
``bot.channels.telegram.poller``) and only the few fields cxbot uses are validated here (a
schema of Telegram's ``Update`` cut down to them: aiogram's full model costs ~10× more on the
hot path, and it refuses whole batches over fields cxbot never reads). Unknown fields and
unknown update kinds never fail: they are ``Ignored``; an update whose fields cxbot reads are
broken is ``Skipped`` with the reason. Texts are bounded to 4096 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.channels.telegram.inbox import Incoming
from bot.security.hygiene import strip_control

MAX_TEXT = 4096

#: Message fields that carry media cxbot cannot read, by the name it gives them (first match wins).
MEDIA_KINDS = (
    "voice",
    "video_note",
    "sticker",
    "animation",
    "video",
    "audio",
    "photo",
    "document",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "story",
    "paid_media",
    "game",
    "invoice",
    "checklist",
)


@dataclass(frozen=True)
class TextIn:
    """A private-chat text message (commands included), or a media message's caption."""

    chat_id: int
    text: str
    language_code: str | None
    message_id: int | None = None
    #: The media the caption came with (a ``MEDIA_KINDS`` name), None for plain text.
    media: str | None = None


@dataclass(frozen=True)
class MediaIn:
    """A private-chat message cxbot cannot read (a voice note, a sticker, a location…), no caption."""

    chat_id: int
    media: str
    message_id: int
    language_code: str | None


@dataclass(frozen=True)
class EditedIn:
    """A private-chat message edited by the customer: its id and new text (or caption)."""

    chat_id: int
    message_id: int
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


@dataclass(frozen=True)
class MemberIn:
    """The customer blocked the bot (``blocked``) or started it again (not ``blocked``)."""

    chat_id: int
    blocked: bool


@dataclass(frozen=True)
class Ignored:
    """An update cxbot does not act on (a group message, a reaction, a newer kind…), by kind."""

    kind: str
    #: The press to answer (a button press without a message, e.g. from inline mode).
    query_id: str | None = None


@dataclass(frozen=True)
class Skipped:
    """An update whose fields cxbot reads are broken: recorded with the reason, never retried."""

    reason: str


CustomerUpdate = TextIn | CallbackIn
Reading = TextIn | CallbackIn | MediaIn | EditedIn | MemberIn | Ignored | Skipped


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Chat(_Read):
    id: int
    #: Missing in old samples (the Bot API docs' own): inferred, users' ids being positive.
    type: str = ""

    @model_validator(mode="after")
    def _infer_type(self) -> _Chat:
        if not self.type:
            object.__setattr__(self, "type", "private" if self.id > 0 else "group")
        return self


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


class _Member(_Read):
    status: str


class _MemberUpdate(_Read):
    chat: _Chat
    new_chat_member: _Member


_READ: dict[str, type[_Read]] = {
    "message": _Message,
    "edited_message": _Message,
    "callback_query": _CallbackQuery,
    "my_chat_member": _MemberUpdate,
}


def incoming(raw: dict[str, Any]) -> Incoming | None:
    """Return the inbox row for a raw update, or None when it has no usable ``update_id``."""
    update_id = raw.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    return Incoming(external_id=str(update_id), chat_key=_chat_key(raw), payload=raw)


def _chat_key(raw: dict[str, Any]) -> str:
    """The chat an update belongs to (its ordering key); "-" when it has none."""
    for key in ("message", "edited_message", "callback_query", "my_chat_member"):
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


def kind_of(raw: dict[str, Any]) -> str:
    """Return the update's kind: the name of its one field besides ``update_id`` ("?" if none)."""
    return next((key for key in raw if key != "update_id"), "?")


def read(raw: dict[str, Any]) -> Reading:
    """Return what the customer did in ``raw``: never raises, whatever ``raw`` holds."""
    if not isinstance(raw.get("update_id"), int) or isinstance(raw.get("update_id"), bool):
        return Skipped("no update_id")
    kind = kind_of(raw)
    model = _READ.get(kind)
    if model is None:
        return Ignored(kind)
    try:
        part = model.model_validate(raw[kind])
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(x) for x in error.get("loc", ()))
        return Skipped(f"{kind}.{where}: {error.get('type', 'invalid')}"[:200])
    if isinstance(part, _CallbackQuery):
        return _press(part)
    if isinstance(part, _MemberUpdate):
        if part.chat.type != "private":
            return Ignored(f"{kind}:{part.chat.type}")
        return MemberIn(part.chat.id, blocked=part.new_chat_member.status in ("kicked", "left"))
    assert isinstance(part, _Message)
    if part.chat.type != "private":
        return Ignored(f"{kind}:{part.chat.type}")
    language = part.from_user.language_code if part.from_user else None
    words = part.text or part.caption
    # Control characters (NUL cannot even be stored by PostgreSQL) are stripped, the words kept.
    text = strip_control(words[:MAX_TEXT]) if words else None
    media = _media(raw[kind])
    if kind == "edited_message":
        if not text:
            return Ignored("edited_message:media")
        return EditedIn(part.chat.id, part.message_id, text, language)
    if text:
        return TextIn(part.chat.id, text, language, part.message_id, media)
    if media is not None:
        return MediaIn(part.chat.id, media, part.message_id, language)
    return Ignored("message:service")  # a pinned message, a new chat photo, a payment…


def _press(query: _CallbackQuery) -> Reading:
    message = query.message
    if message is None:  # a press on an inline-mode message: no chat to answer in
        return Ignored("callback_query:inline", query_id=query.id)
    if message.chat.type != "private":
        return Ignored(f"callback_query:{message.chat.type}", query_id=query.id)
    return CallbackIn(
        chat_id=message.chat.id,
        query_id=query.id,
        message_id=message.message_id,
        data=query.data,
        language_code=query.from_user.language_code,
    )


def _media(message: dict[str, Any]) -> str | None:
    return next((kind for kind in MEDIA_KINDS if message.get(kind)), None)


def parse(raw: dict[str, Any]) -> CustomerUpdate | None:
    """Return the customer's text or button press in ``raw``; None for every other update."""
    reading = read(raw)
    if isinstance(reading, TextIn):
        return TextIn(reading.chat_id, reading.text, reading.language_code)
    return reading if isinstance(reading, CallbackIn) else None


def command(text: str) -> tuple[str, str] | None:
    """Return (command, argument) for ``/cmd[@bot] arg``, lower-cased command; None for plain text."""
    if not text.startswith("/"):
        return None
    head, _, argument = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    if not name or not name.replace("_", "").isalnum():
        return None
    return name, argument.strip()
