"""The inbox processor feeds a batch of chats in one transaction and answers their presses after it."""

from __future__ import annotations

from sqlalchemy import event
from sqlmodel import col, select

from bot.channels import callbacks
from bot.channels.telegram.api import make_bot
from bot.channels.telegram.processor import InboxProcessor, ProcessorConfig
from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import incoming
from bot.engine.service import Service
from storage import inbox
from storage.tables import InboxUpdate, OutboxMessage, Response
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI
from tests.seeding import ask_delivery_csat

TOKEN = "123456:TEST-token"
SECRET = b"k" * 32
CHATS = [810, 811, 812, 813]


async def test_batch_of_chats_is_fed_in_one_transaction(service: Service, clock: FakeClock) -> None:
    """Typed scores, a genuine tap and a forged tap of four chats: one feed transaction per part."""
    surveys = ask_delivery_csat(service, clock.now, CHATS)
    async with FakeBotAPI(require_token=TOKEN) as api:
        bot = make_bot(TOKEN, api.url)
        updates = [
            api.push_message(810, "4", language_code="en"),
            api.push_message(811, "5", language_code="en"),
            api.push_callback(812, 1, callbacks.sign(SECRET, "812", surveys[812], "score:2")),
            api.push_callback(813, 1, callbacks.sign(b"x" * 32, "813", surveys[813], "score:5")),
        ]
        stored = inbox.store(service.db, CHANNEL, [item for u in updates if (item := incoming(u))], clock.now)
        assert stored == 4
        commits: list[int] = []
        event.listen(service.db.engine, "commit", lambda _conn: commits.append(1))
        processor = InboxProcessor(service, bot, SECRET, config=ProcessorConfig(parallel=2))
        try:
            assert await processor.process_once() == 4
        finally:
            await bot.session.close()
        answers = [call for call in api.calls if call.method == "answerCallbackQuery"]
    # the claim, the three feeds (two parts in parallel on PostgreSQL), the forged press's own mark
    assert len(commits) == (3 if service.db.is_sqlite else 4)
    with service.db.read() as session:
        scores = {r.customer_id: r.score for r in session.exec(select(Response))}
        edits = session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == "edit")).all()
        pending = session.exec(select(InboxUpdate).where(col(InboxUpdate.processed_at).is_(None))).all()
    assert scores == {"c-810": 4, "c-811": 5, "c-812": 2}
    assert [e.address for e in edits] == ["812"]
    assert pending == []
    by_query = {call.params["callback_query_id"]: call.params.get("text") for call in answers}
    genuine, forged = (u["callback_query"]["id"] for u in updates[2:])
    assert set(by_query) == {genuine, forged}
    assert by_query[genuine] is None  # counted: the question is edited to show the choice
    assert by_query[forged]  # refused with an explanation
