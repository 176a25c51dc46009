"""A customer (or anyone) trying to answer for, or bind to, another customer through Telegram."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import select

from bot.channels import callbacks
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.processor import ProcessorConfig
from bot.delivery.sender import MemoryRateLimiter, SenderConfig
from bot.engine.wiring import App, build_app
from bot.infra.clock import utcnow
from bot.infra.settings import Settings
from storage import links
from storage.tables import ChannelIdentity, InboxUpdate, Response, SurveyInstance
from tests.fakes.bot_api import FakeBotAPI
from tests.faults.worker import TOKEN, seed

LINK_SECRET = "hostile-link-secret"
ALICE, BOB = 9101, 9102  # chats of customers c9101 and c9102, each with an open CSAT


def _now() -> datetime:
    return utcnow()


class Bot:
    """The served channel and the fake, with the helpers these tests need."""

    def __init__(self, app: App, api: FakeBotAPI) -> None:
        self.app = app
        self.api = api
        self.secret = callbacks.derive_secret(LINK_SECRET, TOKEN)

    def survey_of(self, chat: int) -> int:
        with self.app.db.read() as session:
            survey = session.exec(
                select(SurveyInstance).where(
                    SurveyInstance.customer_id == f"c{chat}", SurveyInstance.status == "sent"
                )
            ).one()
        assert survey.id is not None
        return survey.id

    def responses(self) -> list[Response]:
        with self.app.db.read() as session:
            return list(session.exec(select(Response)))

    def _stored(self) -> int:
        with self.app.db.read() as session:
            return len(list(session.exec(select(InboxUpdate))))

    async def settled(self, count: int) -> None:
        """Wait until ``count`` updates were stored and every stored one was processed."""
        for _ in range(200):
            with self.app.db.read() as session:
                rows = list(session.exec(select(InboxUpdate)))
            if len(rows) >= count and all(r.processed_at is not None for r in rows):
                return
            await asyncio.sleep(0.02)
        raise AssertionError("updates not processed")

    async def press(self, chat: int, data: str) -> str | None:
        """Press a button with ``data`` in ``chat``; return the complaint shown (None: accepted)."""
        before, stored = len(self.api.calls_of("answerCallbackQuery")), self._stored()
        self.api.push_callback(chat, 1, data, language_code="en")
        calls = await self.api.wait_for("answerCallbackQuery", before + 1, timeout=5)
        await self.settled(stored + 1)
        return calls[-1].params.get("text") or None

    async def say(self, chat: int, text: str) -> None:
        """Send ``text`` from ``chat`` and wait until it was processed."""
        stored = self._stored()
        self.api.push_message(chat, text, language_code="en")
        await self.settled(stored + 1)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    """The Telegram channel (polling) on SQLite, Alice and Bob each asked a CSAT."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'h.db'}",
            telegram_token=TOKEN,
            telegram_api_url=api.url,
            link_secret=LINK_SECRET,
        )
        app = build_app(settings, clock=_now)
        assert seed(app.service, [ALICE, BOB], _now()) == 2
        channel = TelegramChannel(
            app,
            processor=ProcessorConfig(idle_interval=0.05),
            sender=SenderConfig(idle_interval=0.05),
            limiter=MemoryRateLimiter(per_chat_interval=0.05),
            poll_timeout=1,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(channel.run(stop))
        await api.wait_for("getUpdates", 1, timeout=10)
        try:
            yield Bot(app, api)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            app.db.dispose()


async def test_forged_callback_is_refused(bot: Bot) -> None:
    """Callback data with a made-up signature is refused with "not valid" and stores nothing."""
    survey = bot.survey_of(BOB)
    complaint = await bot.press(BOB, f"1.{survey}.score:5.deadbeef")
    assert complaint == "This button isn't valid."
    assert bot.responses() == []


async def test_another_chats_button_is_refused(bot: Bot) -> None:
    """Alice's genuine button data pressed in Bob's chat does not verify there: refused, nothing stored."""
    alices = callbacks.sign(bot.secret, str(ALICE), bot.survey_of(ALICE), "score:1")
    complaint = await bot.press(BOB, alices)
    assert complaint == "This button isn't valid."
    assert bot.responses() == []


async def test_button_for_another_customers_survey_does_not_answer_it(bot: Bot) -> None:
    """Even correctly signed for Bob's chat, a press naming Alice's survey never answers Alice's survey."""
    data = callbacks.sign(bot.secret, str(BOB), bot.survey_of(ALICE), "score:1")
    complaint = await bot.press(BOB, data)
    assert complaint == "That question is no longer open."
    assert bot.responses() == []
    with bot.app.db.read() as session:
        alice = session.get(SurveyInstance, bot.survey_of(ALICE))
    assert alice is not None and alice.status == "sent"


async def test_start_token_used_by_another_chat_does_not_bind(bot: Bot) -> None:
    """A start token already used by Alice's chat, tried from Bob's chat: bad link, Bob stays Bob."""
    with bot.app.db.write() as session:
        token = links.issue_token(session, f"c{ALICE}", _now())
    await bot.say(ALICE, f"/start {token}")
    await bot.say(BOB, f"/start {token}")
    await bot.api.wait_for(
        lambda c: c.method == "sendMessage" and c.chat_id == BOB and "link" in c.params["text"], timeout=5
    )
    with bot.app.db.read() as session:
        owners = {i.address: i.customer_id for i in session.exec(select(ChannelIdentity))}
    assert owners[str(BOB)] == f"c{BOB}"
    assert owners[str(ALICE)] == f"c{ALICE}"
    bobs = bot.survey_of(BOB)
    await bot.say(BOB, "1")  # Bob's score lands on Bob's survey only
    (response,) = bot.responses()
    assert (response.customer_id, response.survey_id) == (f"c{BOB}", bobs)
