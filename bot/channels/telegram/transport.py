"""Rendering outbox messages for Telegram: inline keyboards, long texts in parts, edits."""

from __future__ import annotations

import base64
from typing import Any

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters

from bot.channels import callbacks
from bot.channels.telegram.api import call
from bot.sender import PROGRESS
from flows.errors import ChannelError
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


def keyboard(secret: bytes, chat_id: str, payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """Return the payload's ``rows`` as an inline keyboard with signed callback data, or None."""
    rows = payload.get("rows") or []
    survey_id = payload.get("survey_id")
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=str(choice["label"])[:64],
                    callback_data=callbacks.sign(
                        secret,
                        chat_id,
                        survey_id if isinstance(survey_id, int) else None,
                        str(choice["value"]),
                    ),
                )
                for choice in row
            ]
            for row in rows
        ]
    )


class TelegramTransport:
    """Delivers outbox rows of kind ``message`` (send) and ``edit`` (edit a sent message)."""

    def __init__(self, bot: Bot, secret: bytes) -> None:
        self.bot = bot
        self.secret = secret

    def is_group(self, address: str) -> bool:
        """Group and channel chat ids are negative."""
        return address.startswith("-")

    async def deliver(self, message: ClaimedMessage) -> dict[str, Any]:
        """Send or edit; return ``{"message_id": …}`` of the (last) message sent.

        Raises:
            ChatBlocked, ChannelError: see ``bot.channels.telegram.api.call``.
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
            raise ChannelError(f"unknown outbox kind {message.kind!r}", permanent=True)
        payload = message.payload
        chat_id = int(message.address)
        parts = split_text(str(payload.get("text") or ""))
        markup = keyboard(self.secret, message.address, payload)
        done = int(payload.get(PROGRESS) or 0)  # type: ignore[call-overload]
        sent_id: int | None = None
        for index in range(done, len(parts)):
            last = index == len(parts) - 1
            sent = await call(
                self.bot.send_message(chat_id, parts[index], reply_markup=markup if last else None),
                "sendMessage",
            )
            sent_id = sent.message_id
            payload[PROGRESS] = index + 1  # kept if a later part fails (see Sender._failed)
        return {"message_id": sent_id, PROGRESS: len(parts)}

    async def _html(self, message: ClaimedMessage) -> dict[str, Any]:
        """Send our own HTML text (the managers' summary; already escaped and within the limit)."""
        text = str(message.payload.get("text") or "")[:MAX_TEXT]
        sent = await call(
            self.bot.send_message(
                int(message.address), text, parse_mode="HTML", disable_web_page_preview=True
            ),
            "sendMessage",
        )
        return {"message_id": sent.message_id}

    async def _photo(self, message: ClaimedMessage) -> dict[str, Any]:
        """Send a PNG carried base64-encoded in the payload (the summary's chart)."""
        payload = message.payload
        data = base64.b64decode(str(payload.get("png") or ""))
        photo = BufferedInputFile(data, filename=str(payload.get("filename") or "chart.png"))
        caption = str(payload.get("caption") or "")[:1024] or None
        sent = await call(self.bot.send_photo(int(message.address), photo, caption=caption), "sendPhoto")
        return {"message_id": sent.message_id}

    async def _copy(self, message: ClaimedMessage) -> dict[str, Any]:
        """Copy a message (an agent's media) into the chat, replying to ``reply_to`` if given."""
        payload = message.payload
        reply_to = payload.get("reply_to")
        thread = payload.get("thread_id")
        sent = await call(
            self.bot.copy_message(
                chat_id=int(message.address),
                from_chat_id=int(str(payload["from_chat_id"])),
                message_id=int(str(payload["message_id"])),
                message_thread_id=int(str(thread)) if thread is not None else None,
                reply_parameters=(
                    ReplyParameters(message_id=int(str(reply_to)), allow_sending_without_reply=True)
                    if reply_to is not None
                    else None
                ),
            ),
            "copyMessage",
        )
        return {"copied_id": sent.message_id}

    async def _edit(self, message: ClaimedMessage) -> dict[str, Any]:
        payload = message.payload
        chat_id = int(message.address)
        message_id = int(payload["message_id"])  # type: ignore[call-overload]
        text = payload.get("text")
        try:
            if text:
                await call(
                    self.bot.edit_message_text(
                        text=str(text)[:MAX_TEXT], chat_id=chat_id, message_id=message_id, reply_markup=None
                    ),
                    "editMessageText",
                )
            else:
                await call(
                    self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id),
                    "editMessageReplyMarkup",
                )
        except ChannelError as exc:
            if "not modified" in str(exc):
                return {}  # already shows what we want
            raise
        return {}
