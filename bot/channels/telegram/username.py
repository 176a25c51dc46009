"""The bot's username for deep links: CXBOT_TELEGRAM_BOT_USERNAME, else what ``getMe`` said.

Free of aiogram, so the HTTP API can ask without loading the Telegram client. The Telegram
channel refreshes the cache at every start (``remember``); ``cxbot config`` asks ``getMe``
itself (``fetch``) to warn when no username can be had.
"""

from __future__ import annotations

import httpx
import structlog

from bot.infra.settings import Settings

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
    """Ask ``getMe`` synchronously; return (username, None) or (None, why not)."""
    if settings.telegram_token is None:
        return None, "CXBOT_TELEGRAM_TOKEN is not set"
    base = settings.telegram_api_url.rstrip("/")
    url = f"{base}/bot{settings.telegram_token.get_secret_value()}/getMe"
    try:
        response = httpx.get(url, timeout=timeout)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"getMe failed: {type(exc).__name__}"
    result = body.get("result") if isinstance(body, dict) and body.get("ok") else None
    username = result.get("username") if isinstance(result, dict) else None
    if not isinstance(username, str) or not username:
        return None, f"getMe failed: HTTP {response.status_code}"
    return username, None
