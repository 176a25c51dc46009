"""The bot's username for deep links: CXBOT_TELEGRAM_BOT_USERNAME, else what ``getMe`` said.

Free of aiogram until ``fetch`` (which asks through the one Bot API client,
``bot.channels.telegram.api``), so the HTTP API can ask without loading the Telegram client. The Telegram
channel refreshes the cache at every start (``remember``); ``cxbot config`` asks ``getMe``
itself (``fetch``) to warn when no username can be had.
"""

from __future__ import annotations

import asyncio

import structlog

from bot.infra.settings import Settings
from flows.errors import ChannelError

log = structlog.get_logger(__name__)

#: Usernames ``getMe`` returned, by bot id (the token's digits before the colon, not secret).
_from_get_me: dict[str, str] = {}


def _bot_id(settings: Settings) -> str | None:
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else None
    return token.split(":", 1)[0] if token else None


def bot_username(settings: Settings) -> str | None:
    """Return the username deep links use: the setting, else the one ``getMe`` gave, else None."""
    if settings.telegram_bot_username:
        return settings.telegram_bot_username
    bot_id = _bot_id(settings)
    return _from_get_me.get(bot_id) if bot_id else None


def remember(settings: Settings, username: str | None) -> None:
    """Keep the username ``getMe`` returned for this bot (called by the channel at start)."""
    bot_id = _bot_id(settings)
    if not username or bot_id is None:
        return
    if _from_get_me.get(bot_id) != username:
        log.info("bot_username_from_get_me", username=username)
    _from_get_me[bot_id] = username


def fetch(settings: Settings, *, timeout: float = 5.0) -> tuple[str | None, str | None]:
    """Ask ``getMe`` synchronously, through the one Bot API client; return (username, None) or
    (None, why not)."""
    if settings.telegram_token is None:
        return None, "CXBOT_TELEGRAM_TOKEN is not set"
    from bot.channels.telegram.api import make_bot  # loads aiogram: only ``cxbot config`` asks here

    bot = make_bot(settings.telegram_token.get_secret_value(), settings.telegram_api_url)

    async def ask() -> str | None:
        try:
            return (await bot.get_me(request_timeout=max(1, round(timeout)))).username
        finally:
            await bot.session.close()

    try:
        username = asyncio.run(ask())
    except ChannelError as exc:  # named by the client (network, refused token, not JSON…)
        return None, str(exc)  # "getMe: network: …", "getMe: refused: …"
    if not username:
        return None, "getMe failed: the bot has no username"
    return username, None
