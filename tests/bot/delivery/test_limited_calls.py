"""Every Bot API call that counts against Telegram's limits waits for the limiter, whoever makes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.channel import TelegramChannel
from bot.delivery.limited_calls import cost, limit_requests, limited_bot_call
from bot.delivery.rate_budget import DatabaseRateLimiter
from bot.delivery.sender import MemoryRateLimiter
from bot.engine.wiring import build_app
from bot.infra.settings import Settings
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "123456:TEST-token"


class RecordingLimiter:
    """A limiter that never waits; remembers what was acquired and paused."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, bool]] = []
        self.paused: list[tuple[str, float]] = []

    async def acquire(self, address: str, *, group: bool) -> None:
        self.acquired.append((address, group))

    def pause(self, address: str, seconds: float) -> None:
        self.paused.append((address, seconds))


@pytest.mark.parametrize(
    ("method", "chat_id", "expected"),
    [
        ("sendMessage", 42, ("42", False)),
        ("sendPhoto", -100123, ("-100123", True)),
        ("copyMessage", 42, ("42", False)),
        ("editMessageText", 42, ("", False)),
        ("editMessageReplyMarkup", -100123, ("-100123", True)),
        ("answerCallbackQuery", None, ("", False)),
        ("createForumTopic", -100123, ("-100123", True)),
        ("sendChatAction", 42, None),
        ("getUpdates", None, None),
        ("getChatMember", -100123, None),
    ],
)
def test_what_each_call_costs(method: str, chat_id: Any, expected: tuple[str, bool] | None) -> None:
    """Sends count for the chat, edits in private chats and answers only for the bot, reads not at all."""
    assert cost(method, chat_id) == expected


async def test_aiogram_calls_wait_for_the_limiter() -> None:
    """Sends, edits and callback answers made through aiogram each acquire; getMe does not."""
    limiter = RecordingLimiter()
    async with FakeBotAPI(require_token=TOKEN) as api:
        bot = make_bot(TOKEN, api.url)
        bot.session.middleware(limit_requests(limiter))
        try:
            sent = await bot.send_message(42, "hello")
            await bot.edit_message_text("hello!", chat_id=42, message_id=sent.message_id)
            await bot.get_me()
            await bot.answer_callback_query("some-query")
        finally:
            await bot.session.close()
    assert limiter.acquired == [("42", False), ("", False), ("", False)]


async def test_desk_calls_wait_for_the_limiter() -> None:
    """The agents' desk calls (topics, cards) acquire too; getChatMember does not."""
    limiter = RecordingLimiter()
    made: list[str] = []

    async def call(method: str, params: dict[str, Any]) -> Any:
        made.append(method)
        return {}

    limited = limited_bot_call(call, limiter)
    await limited("createForumTopic", {"chat_id": -100777, "name": "#1"})
    await limited("sendMessage", {"chat_id": -100777, "text": "card"})
    await limited("getChatMember", {"chat_id": -100777, "user_id": 1})
    assert made == ["createForumTopic", "sendMessage", "getChatMember"]
    assert limiter.acquired == [("-100777", True), ("-100777", True)]


def test_the_channel_limits_at_the_call_and_picks_the_shared_budget(tmp_path: Path) -> None:
    """The channel's sender leaves the waiting to the calls; 'database' selects the shared budget."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tg.db'}",
        telegram_token=TOKEN,
        telegram_api_url="http://127.0.0.1:9",
        agents_chat_id=-100777,
        agent_ids=[1],
    )
    app = build_app(settings)
    channel = TelegramChannel(app)
    assert isinstance(channel.limiter, MemoryRateLimiter)  # SQLite, 'auto': one worker
    assert channel.sender.limiter is channel.limiter  # the sender only pauses; the calls wait
    channel.sender.limiter.pause("42", 3.0)
    assert channel.limiter._chat_next["42"] > 0  # a 429's pause reaches the real limiter
    shared = TelegramChannel(build_app(settings.model_copy(update={"outbound_budget": "database"})))
    assert isinstance(shared.limiter, DatabaseRateLimiter)
    assert shared.desk is not None and shared.desk.call.__qualname__.startswith("limited_bot_call")
