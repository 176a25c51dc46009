"""Customers' chat texts with control characters: stripped and stored, never a failed update."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.processor import InboxProcessor
from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import incoming
from bot.engine.service import Service
from storage import inbox
from storage.tables import InboxUpdate, Response
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI
from tests.hostile.conftest import Tally
from tests.seeding import ask_delivery_csat

TOKEN = "123456:TEST-token"
SECRET = b"k" * 32


async def _say(service: Service, api: FakeBotAPI, chat: int, text: str, now: datetime) -> None:
    bot = make_bot(TOKEN, api.url)
    try:
        row = incoming(api.push_message(chat, text, language_code="en"))
        assert row is not None
        inbox.store(service.db, CHANNEL, [row], now)
        await InboxProcessor(service, bot, SECRET).process_once()
    finally:
        await bot.session.close()


async def test_nul_and_escape_in_a_comment_are_stripped_and_stored(
    service: Service, clock: FakeClock, tally: Tally
) -> None:
    """A score and a comment full of NUL/ESC/BEL are stored without them on both databases."""
    ask_delivery_csat(service, clock.now, [830])
    async with FakeBotAPI(require_token=TOKEN) as api:
        await _say(service, api, 830, "2\u0000", clock.now)
        await _say(service, api, 830, "Arrivato\u0000 rotto\u001b[31m, male\u0007.\nDavvero.", clock.now)
    with service.db.read() as session:
        responses = session.exec(select(Response)).all()
        failed = session.exec(select(InboxUpdate).where(col(InboxUpdate.error).is_not(None))).all()
    tally.probe(500 if failed else 200)
    assert failed == []
    assert [r.score for r in responses] == [2]
    assert responses[0].comment == "Arrivato rotto[31m, male.\nDavvero."
