"""Telegram Bot API failures, named once for both Telegram libraries cxbot speaks (aiogram in
``bot.channels.telegram``, python-telegram-bot in ``bot.channels.ptb``) and for raw replies.

Each failure gets a kind (the ``kind`` label of ``cxbot_telegram_api_errors_total``) and leaves as
one error of the tree in ``flows.errors``.
"""

from __future__ import annotations

import json

from bot.observability.metrics import API_ERRORS
from flows.errors import ChannelError, ChatBlocked, Permanent, RetryAfter, Transient

#: Names of Bot API failures (the ``kind`` label of ``cxbot_telegram_api_errors_total``).
FLOOD, FORBIDDEN, BAD_REQUEST, SERVER, NETWORK, TIMEOUT, NOT_JSON, REFUSED = (
    "flood",
    "forbidden",
    "bad_request",
    "server",
    "network",
    "timeout",
    "not_json",
    "refused",
)


def failure(what: str, kind: str, detail: str = "", *, retry_after: float | None = None) -> ChannelError:
    """Return the ChannelError for a Bot API failure of ``kind`` (one of the names above), counted.

    The one place where a failure gets its name, whatever reported it (aiogram, a raw reply,
    python-telegram-bot): 403 → ``ChatBlocked``; 429 → ``RetryAfter``; 400 and other refusals
    (401, 404, 409…) → ``Permanent``; 5xx, network errors, timeouts and non-JSON bodies (a
    proxy's HTML error page) → ``Transient``.
    """
    API_ERRORS.labels(what, kind).inc()
    message = f"{what}: {kind}" + (f": {detail[:200]}" if detail else "")
    if kind == FORBIDDEN:
        return ChatBlocked(message)
    if kind == FLOOD:
        return RetryAfter(message, float(retry_after or 1))
    if kind in (BAD_REQUEST, REFUSED):
        return Permanent(message)
    return Transient(message)


def reply_failure(what: str, status: int, body: str) -> ChannelError:
    """Return the named ChannelError for a Bot API reply that is not ``{"ok": true}``."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return failure(what, NOT_JSON, f"HTTP {status}")
    code: int = data["error_code"] if isinstance(data.get("error_code"), int) else status
    description = str(data.get("description") or "")
    parameters = data.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if code == 429 or isinstance(retry_after, int | float):
        return failure(what, FLOOD, retry_after=float(retry_after or 1))
    if code == 403:
        return failure(what, FORBIDDEN)
    if code == 400:
        return failure(what, BAD_REQUEST, description)
    if code >= 500:
        return failure(what, SERVER, description)
    return failure(what, REFUSED, f"{code} {description}")
