"""Every Bot API call that counts against Telegram's limits waits for the rate limiter.

Limiting at the call, not at the outbox message, catches every such call wherever it is made:
the sender's sends and edits (each part of a long text), the processor's callback answers, the
agents' desk (cards, notes, forum topics, its answers). Two plugs, one rule (``cost``):

* ``limit_requests(limiter)``: an aiogram session middleware (``bot.session.middleware``);
* ``limited_bot_call(call, limiter)``: wraps a ``BotCall`` (the desk's raw JSON calls).

The sender only tells the limiter to ``pause`` a chat after a 429; it spends nothing itself.

What counts (Telegram: ~30 messages/s per bot, 1/s per chat, 20/min per group):

* a new message (send*, copy, forward, media groups): the bot, the chat, and the group's minute;
* an edit: the bot; in a group also the chat and its minute (in a private chat it is no new
  message, so it does not delay the chat's next question);
* a callback or inline answer: the bot only;
* forum topic calls: the bot and the group (they post a service message in the group);
* anything else (getUpdates, getMe, getChatMember, setWebhook…): nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.delivery.sender import RateLimiter

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import TelegramMethod

    from bot.infra.settings import Settings
    from storage.db import Database

#: Performs one Bot API method with JSON parameters and returns its ``result``; raises the error
#: tree (``bot.channels.telegram.api.bot_call`` makes one on the bot's own session).
BotCall = Callable[[str, dict[str, Any]], Awaitable[Any]]

#: Address of a call that counts only against the bot's own rate.
NO_CHAT = ""

_EDITS = frozenset(
    {"editmessagetext", "editmessagereplymarkup", "editmessagecaption", "editmessagemedia", "stoppoll"}
)
_ANSWERS = frozenset({"answercallbackquery", "answerinlinequery"})
_MESSAGES = frozenset({"copymessage", "copymessages", "forwardmessage", "forwardmessages"})
_NOT_MESSAGES = frozenset({"sendchataction"})


def cost(method: str, chat_id: Any) -> tuple[str, bool] | None:
    """Return ``(address, group)`` to acquire before calling ``method`` on ``chat_id``, or None."""
    name = method.lower()
    group = _is_group(chat_id)
    address = "" if chat_id is None else str(chat_id)
    if name in _ANSWERS:
        return NO_CHAT, False
    if name in _EDITS:
        return (address, True) if group else (NO_CHAT, False)
    if "forumtopic" in name:
        return address, True
    if name in _MESSAGES or (name.startswith("send") and name not in _NOT_MESSAGES):
        return address, group
    return None


def _is_group(chat_id: Any) -> bool:
    """Groups, supergroups and channels have negative ids (or an @username)."""
    if isinstance(chat_id, int):
        return chat_id < 0
    return isinstance(chat_id, str) and (chat_id.startswith(("-", "@")))


def limit_requests(limiter: RateLimiter) -> Any:
    """Return an aiogram request middleware making ``limiter`` space the calls that count."""

    async def middleware(
        make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        spend = cost(method.__api_method__, getattr(method, "chat_id", None))
        if spend is not None:
            await limiter.acquire(spend[0], group=spend[1])
        return await make_request(bot, method)

    return middleware


def limited_bot_call(call: BotCall, limiter: RateLimiter) -> BotCall:
    """Return ``call`` making ``limiter`` space the calls that count."""

    async def limited(method: str, params: dict[str, Any]) -> Any:
        spend = cost(method, params.get("chat_id"))
        if spend is not None:
            await limiter.acquire(spend[0], group=spend[1])
        return await call(method, params)

    return limited


def channel_limiter(settings: Settings, db: Database) -> RateLimiter:
    """Return the limiter for a worker: shared through the database or per process (settings)."""
    from bot.delivery.rate_budget import DatabaseRateLimiter, shares_budget
    from bot.delivery.sender import MemoryRateLimiter

    if shares_budget(db.url, settings.outbound_budget):
        return DatabaseRateLimiter(db)
    return MemoryRateLimiter()
