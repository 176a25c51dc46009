"""Reading Telegram updates: one lenient parse of each raw update into an ``Update``.

Untrusted input, read leniently: the raw JSON Telegram sent is stored as it is (see
``bot.channels.telegram.poller``) and only the few fields cxbot uses are validated here (a
schema of Telegram's ``Update`` cut down to them: aiogram's full model costs ~10× more on the
hot path, and it refuses whole batches over fields cxbot never reads). Unknown fields and
unknown update kinds never fail; an update whose fields cxbot needs are broken is
``Unparseable`` with the reason. Texts are bounded to 4096 characters.

Both Telegram channels read through here: the customers' (``customers.TelegramCustomers``) and
the agents' group (``agents.TelegramAgents``); ``incoming`` routes each update to its channel's
inbox when it is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.channels.base import Unparseable
from bot.channels.telegram.transport import CHANNEL
from bot.escalations.records import AGENTS_CHANNEL
from bot.security.hygiene import strip_control
from storage.inbox import Incoming

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
class User:
    """Who sent a message or pressed a button."""

    id: int
    is_bot: bool = False
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class Update:
    """The fields of one update cxbot reads (each channel decides what they mean for it)."""

    #: The update's one field besides ``update_id``: message, callback_query, my_chat_member…
    kind: str
    #: The chat it belongs to (the inbox's ordering key): the chat's id, else the sender's, else "-".
    key: str
    chat_id: int | None = None
    chat_type: str = ""
    message_id: int | None = None
    #: The message's text, or its media's caption: bounded, control characters stripped.
    text: str | None = None
    #: The media it carries (a ``MEDIA_KINDS`` name), None for plain text.
    media: str | None = None
    user: User | None = None
    #: When the message was written (Unix seconds).
    date: int | None = None
    #: The message it replies to, and its forum topic (only for a topic message).
    reply_to: int | None = None
    thread_id: int | None = None
    #: A button press: its id (to answer it) and its data.
    query_id: str | None = None
    data: str | None = None
    #: ``my_chat_member``: the bot's new status in the chat (kicked, member…).
    status: str | None = None


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
    # Read when usable, never refused: only the agents' desk shows them.
    is_bot: Any = None
    username: Any = None
    first_name: Any = None


class _Message(_Read):
    message_id: int
    chat: _Chat
    from_user: _User | None = Field(default=None, alias="from")
    text: str | None = None
    caption: str | None = None  # a photo's or document's words: they join the case like a text
    # Read when usable, never refused (one odd reply or date must not cost the whole update).
    date: Any = None
    reply_to_message: Any = None
    message_thread_id: Any = None
    is_topic_message: Any = None


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


def kind_of(raw: dict[str, Any]) -> str:
    """Return the update's kind: the name of its one field besides ``update_id`` ("?" if none)."""
    return next((key for key in raw if key != "update_id"), "?")


def read(raw: dict[str, Any]) -> Update | Unparseable:
    """Return what ``raw`` says, or why it cannot be read: never raises, whatever ``raw`` holds."""
    if not _is_int(raw.get("update_id")):
        return Unparseable("no update_id")
    kind = kind_of(raw)
    model = _READ.get(kind)
    if model is None:
        return Update(kind, _sender_key(raw.get(kind)))
    try:
        part = model.model_validate(raw[kind])
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(x) for x in error.get("loc", ()))
        return Unparseable(f"{kind}.{where}: {error.get('type', 'invalid')}"[:200])
    if isinstance(part, _CallbackQuery):
        return _press(part)
    if isinstance(part, _MemberUpdate):
        chat = part.chat
        return Update(kind, str(chat.id), chat.id, chat.type, status=part.new_chat_member.status)
    assert isinstance(part, _Message)
    return _message(kind, part, raw[kind])


def _message(kind: str, message: _Message, raw: dict[str, Any]) -> Update:
    words = message.text or message.caption
    reply_to = message.reply_to_message
    chat = message.chat
    return Update(
        kind,
        str(chat.id),
        chat.id,
        chat.type,
        message.message_id,
        # Control characters (NUL cannot even be stored by PostgreSQL) are stripped, the words kept.
        strip_control(words[:MAX_TEXT]) if words else None,
        next((media for media in MEDIA_KINDS if raw.get(media)), None),
        _user(message.from_user),
        message.date if _is_int(message.date) else None,
        reply_to.get("message_id")
        if isinstance(reply_to, dict) and _is_int(reply_to.get("message_id"))
        else None,
        message.message_thread_id
        if message.is_topic_message is True and _is_int(message.message_thread_id)
        else None,
    )


def _press(query: _CallbackQuery) -> Update:
    message = query.message
    user = _user(query.from_user)
    if message is None:  # a press on an inline-mode message: no chat to answer in
        return Update(
            "callback_query", str(query.from_user.id), user=user, query_id=query.id, data=query.data
        )
    chat = message.chat
    return Update(
        "callback_query",
        str(chat.id),
        chat.id,
        chat.type,
        message.message_id,
        user=user,
        query_id=query.id,
        data=query.data,
    )


def _user(user: _User | None) -> User | None:
    if user is None:
        return None
    return User(
        user.id,
        user.is_bot is True,
        str(user.username)[:64] if isinstance(user.username, str) else None,
        str(user.first_name)[:64] if isinstance(user.first_name, str) else None,
        user.language_code,
    )


def _sender_key(part: Any) -> str:
    """The ordering key of an update kind cxbot does not read: its chat's or sender's id, else "-"."""
    if not isinstance(part, dict):
        return "-"
    for holder in (part.get("chat"), part.get("from"), part.get("user")):
        if isinstance(holder, dict) and _is_int(holder.get("id")):
            return str(holder["id"])
    return "-"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: Returns the inbox row of a raw update (its channel's, by chat), None without a usable update_id.
Route = Callable[[dict[str, Any]], Incoming | None]


def incoming(raw: dict[str, Any], agents_chat: int | None = None) -> Incoming | None:
    """Return the inbox row for a raw update, or None when it has no usable ``update_id``.

    An update from the agents' group (``agents_chat``) goes to the agents' channel's inbox;
    every other one to the customers'.
    """
    update = read(raw)
    if isinstance(update, Unparseable):
        if not _is_int(raw.get("update_id")):
            return None
        return Incoming(str(raw["update_id"]), "-", raw, CHANNEL)  # recorded as skipped when processed
    agents = agents_chat is not None and update.chat_id == agents_chat
    return Incoming(str(raw["update_id"]), update.key, raw, AGENTS_CHANNEL if agents else CHANNEL)


def command(text: str) -> tuple[str, str] | None:
    """Return (command, argument) for ``/cmd[@bot] arg``, lower-cased command; None for plain text."""
    if not text.startswith("/"):
        return None
    head, _, argument = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    if not name or not name.replace("_", "").isalnum():
        return None
    return name, argument.strip()
