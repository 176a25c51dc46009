"""Rendering outbox messages for Telegram: inline keyboards, long texts in parts, edits."""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

from aiogram import Bot
from aiogram.types import BufferedInputFile, ReplyParameters

from bot.channels import callbacks
from bot.channels.telegram.api import EditMessageReplyMarkup, EditMessageText, SendMessage, call, json_body
from bot.delivery.sender import PROGRESS
from flows.errors import ChannelError, Permanent
from storage.claims import ClaimedMessage

CHANNEL = "telegram"
MAX_TEXT = 4096


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Return ``text`` in parts of at most ``limit`` characters, cut at line boundaries when possible."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:  # a single overlong line: cut it hard
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current or not parts:
        parts.append(current)
    return [p.rstrip("\n") or p for p in parts]


#: A question's buttons as (label, value) per row: the same for every customer asked it.
Layout = tuple[tuple[tuple[str, str], ...], ...]


@functools.lru_cache(maxsize=256)
def _buttons(layout: Layout) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Return, per row and button, its JSON up to the callback data, and the value to sign.

    Built once per question template; only the signature (it covers the chat) is per message.
    Callback data is ``A-Za-z0-9_:.-`` only (``callbacks.sign``), so it needs no JSON escaping.
    """
    return tuple(
        tuple(
            ('{"text":' + json.dumps(label[:64], ensure_ascii=False) + ',"callback_data":"', value)
            for label, value in row
        )
        for row in layout
    )


def keyboard(secret: bytes, chat_id: str, payload: dict[str, Any]) -> str | None:
    """Return the payload's ``rows`` as an inline keyboard (its JSON) with signed callback data,
    or None when there are none."""
    rows = payload.get("rows") or []
    if not rows:
        return None
    survey_id = payload.get("survey_id")
    survey = survey_id if isinstance(survey_id, int) else None
    layout: Layout = tuple(tuple((str(c["label"]), str(c["value"])) for c in row) for row in rows)
    return (
        '{"inline_keyboard":['
        + ",".join(
            "["
            + ",".join(head + callbacks.sign(secret, chat_id, survey, value) + '"}' for head, value in row)
            + "]"
            for row in _buttons(layout)
        )
        + "]}"
    )


class TelegramTransport:
    """Delivers the customers' "telegram" outbox: ``message`` (send), ``edit``, ``html``,
    ``photo``, ``copy``.

    Every failure comes named from the bot's session (``bot.channels.telegram.api.make_bot``).
    """

    def __init__(self, bot: Bot, secret: bytes) -> None:
        self.bot = bot
        self.secret = secret

    async def deliver(self, message: ClaimedMessage) -> dict[str, Any]:
        """Send or edit; return ``{"message_id": …}`` of the (last) message sent.

        Raises:
            ChatBlocked, RetryAfter, Permanent, Transient: see ``bot.channels.telegram.api.failure``.
        """
        if message.kind == "edit":
            return await self._edit(message)
        if message.kind == "html":
            return await self._html(message)
        if message.kind == "photo":
            return await self._photo(message)
        if message.kind == "copy":
            return await self._copy(message)
        if message.kind != "message":
            raise Permanent(f"unknown outbox kind {message.kind!r}")
        payload = message.payload
        chat_id = int(message.address)
        parts = split_text(str(payload.get("text") or ""))
        markup = keyboard(self.secret, message.address, payload)
        done = int(payload.get(PROGRESS) or 0)  # type: ignore[call-overload]
        sent_id: int | None = None
        for index in range(done, len(parts)):
            last = index == len(parts) - 1
            fields = {"chat_id": chat_id, "text": parts[index]}
            body = json_body(fields, reply_markup=markup if last else None)
            sent = await call(self.bot, SendMessage(chat_id, body))
            sent_id = int(sent["message_id"])  # the one field read from the reply
            payload[PROGRESS] = index + 1  # kept if a later part fails (see Sender._failed)
        return {"message_id": sent_id, PROGRESS: len(parts)}

    async def _html(self, message: ClaimedMessage) -> dict[str, Any]:
        """Send our own HTML text (the managers' summary; already escaped and within the limit)."""
        text = str(message.payload.get("text") or "")[:MAX_TEXT]
        sent = await self.bot.send_message(
            int(message.address), text, parse_mode="HTML", disable_web_page_preview=True
        )
        return {"message_id": sent.message_id}

    async def _photo(self, message: ClaimedMessage) -> dict[str, Any]:
        """Send a PNG carried base64-encoded in the payload (the summary's chart)."""
        payload = message.payload
        data = base64.b64decode(str(payload.get("png") or ""))
        photo = BufferedInputFile(data, filename=str(payload.get("filename") or "chart.png"))
        caption = str(payload.get("caption") or "")[:1024] or None
        sent = await self.bot.send_photo(int(message.address), photo, caption=caption)
        return {"message_id": sent.message_id}

    async def _copy(self, message: ClaimedMessage) -> dict[str, Any]:
        """Copy a message (an agent's media) into the chat, replying to ``reply_to`` if given."""
        payload = message.payload
        reply_to = payload.get("reply_to")
        thread = payload.get("thread_id")
        sent = await self.bot.copy_message(
            chat_id=int(message.address),
            from_chat_id=int(str(payload["from_chat_id"])),
            message_id=int(str(payload["message_id"])),
            message_thread_id=int(str(thread)) if thread is not None else None,
            reply_parameters=(
                ReplyParameters(message_id=int(str(reply_to)), allow_sending_without_reply=True)
                if reply_to is not None
                else None
            ),
        )
        return {"copied_id": sent.message_id}

    async def _edit(self, message: ClaimedMessage) -> dict[str, Any]:
        payload = message.payload
        chat_id = int(message.address)
        message_id = int(payload["message_id"])  # type: ignore[call-overload]
        text = payload.get("text")
        try:
            # Without ``reply_markup``: the edit takes the buttons off too.
            target = {"chat_id": chat_id, "message_id": message_id}
            if text:
                body = json_body({**target, "text": str(text)[:MAX_TEXT]})
                await call(self.bot, EditMessageText(chat_id, body))
            else:
                await call(self.bot, EditMessageReplyMarkup(chat_id, json_body(target)))
        except ChannelError as exc:
            if "not modified" in str(exc):
                return {}  # already shows what we want
            raise
        return {}
