"""Inline-button callback data: short, opaque and signed, so a forged or altered press is refused.

Telegram's button format, shared by both Telegram channels (aiogram's and PTB's), which must not
import each other.

Format: ``v1.<survey_id or ->.<value>.<hmac8>`` (at most 64 bytes, Telegram's limit). The MAC
covers the chat id too, so a button cannot be replayed from another chat.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

MAX_BYTES = 64
_VERSION = "v1"
_VALUE_RE = re.compile(r"^[A-Za-z0-9_:\-]{1,32}$")


def derive_secret(link_secret: str | None, bot_token: str) -> bytes:
    """Return the key signing buttons: CXBOT_LINK_SECRET, else a key derived from the bot token.

    The raw token is never used as the key (nor appears in any callback data).
    """
    if link_secret:
        return link_secret.encode()
    return hmac.new(bot_token.encode(), b"cxbot/telegram/callback/v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class Press:
    """A verified button press: the survey it answers (None outside a survey) and the choice value."""

    survey_id: int | None
    value: str


def _mac(secret: bytes, chat_id: str, survey: str, value: str) -> str:
    message = f"{_VERSION}|{chat_id}|{survey}|{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:8]


def sign(secret: bytes, chat_id: str, survey_id: int | None, value: str) -> str:
    """Return the callback data for a choice shown in ``chat_id``.

    Raises:
        ValueError: when the value has characters outside ``A-Za-z0-9_:-`` or the data would
            exceed 64 bytes (a journey/engine bug, not customer input).
    """
    if not _VALUE_RE.match(value):
        raise ValueError(f"choice value not encodable as callback data: {value!r}")
    survey = "-" if survey_id is None else str(survey_id)
    data = f"{_VERSION}.{survey}.{value}.{_mac(secret, chat_id, survey, value)}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError("callback data longer than 64 bytes")
    return data


def verify(secret: bytes, chat_id: str, data: str | None) -> Press | None:
    """Return the press encoded in ``data`` for ``chat_id``, or None when it is malformed or forged."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    parts = data.split(".")
    if len(parts) != 4 or parts[0] != _VERSION:
        return None
    _, survey, value, mac = parts
    if not _VALUE_RE.match(value) or not (survey == "-" or (survey.isdigit() and len(survey) <= 18)):
        return None
    if not hmac.compare_digest(mac, _mac(secret, chat_id, survey, value)):
        return None
    return Press(survey_id=None if survey == "-" else int(survey), value=value)
