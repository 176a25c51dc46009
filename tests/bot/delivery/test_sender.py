"""The outbox sender on Telegram: limits, flood control, server errors and blocked chats."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlmodel import col, select

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.transport import CHANNEL, TelegramTransport
from bot.delivery.limited_calls import limit_requests
from bot.delivery.sender import MemoryRateLimiter, Sender, SenderConfig
from bot.infra.clock import utcnow
from bot.infra.retry import RetryPolicy
from storage import repo
from storage.db import Database
from storage.tables import ChannelIdentity, OutboxMessage
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "42:SENDER-test"


def _enqueue(db: Database, messages: list[tuple[int, str]]) -> None:
    now = utcnow()
    with db.write() as session:
        for chat, text in messages:
            repo.ensure_customer(session, f"tg-{chat}", now)
            repo.bind_identity(session, f"tg-{chat}", CHANNEL, str(chat), now)
            repo.enqueue_message(
                session, channel=CHANNEL, address=str(chat), payload={"text": text, "rows": []}, now=now
            )


def _rows(db: Database) -> list[OutboxMessage]:
    with db.read() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API on loopback."""
    async with FakeBotAPI(require_token=TOKEN) as fake:
        yield fake


async def _run_until(sender: Sender, done: Callable[[], bool], limit: float = 6.0) -> float:
    """Run the sender until ``done()``; return the seconds it took."""
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    started = time.monotonic()
    try:
        while not done():
            assert time.monotonic() - started < limit, "sender did not finish in time"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await sender.transport.bot.session.close()  # type: ignore[attr-defined]
    return time.monotonic() - started


def _sender(db: Database, api: FakeBotAPI, limiter: MemoryRateLimiter, **retry: float) -> Sender:
    bot = make_bot(TOKEN, api.url)
    bot.session.middleware(limit_requests(limiter))  # as the channel does: every call waits its slot
    transport = TelegramTransport(bot, b"k" * 32)
    config = SenderConfig(idle_interval=0.05, retry=RetryPolicy(**retry))  # type: ignore[arg-type]
    return Sender(db, CHANNEL, transport, limiter, config=config)


def _settled(db: Database) -> Callable[[], bool]:
    return lambda: all(r.status != "pending" for r in _rows(db))


async def test_429_storm_and_403_lose_nothing_and_send_nothing_twice(db: Database, api: FakeBotAPI) -> None:
    """Under 429s and a blocked chat every message is sent once, in order, after retry_after."""
    chats = [1001, 1002, 1003, 1004, 1005]
    blocked = 1006
    expected = [(chat, f"m{chat}-{i}") for i in range(3) for chat in chats]
    _enqueue(db, [*expected, (blocked, "b-0"), (blocked, "b-1")])
    api.block_chat(blocked)
    api.fail_next("sendMessage", 429, count=3, retry_after=1)
    sender = _sender(db, api, MemoryRateLimiter(per_chat_interval=0.05))
    await _run_until(sender, _settled(db))

    sent = api.sent_messages()
    assert sorted((m["chat_id"], m["text"]) for m in sent) == sorted(expected)  # none lost, none twice
    for chat in chats:
        assert [m["text"] for m in api.sent_messages(chat)] == [f"m{chat}-{i}" for i in range(3)]
    floods = [c for c in api.calls_of("sendMessage") if c.status == 429]
    assert len(floods) == 3
    for flood in floods:
        later = [c.at for c in api.calls_of("sendMessage") if c.chat_id == flood.chat_id and c.at > flood.at]
        assert min(later) - flood.at >= 1.0  # waited retry_after before writing to that chat again
    first_flood = min(f.at for f in floods)
    assert any(at < first_flood + 1.0 for at, _ in api.stats.send_log if at > first_flood)  # others went on

    to_blocked = [c.status for c in api.calls_of("sendMessage") if c.chat_id == blocked]
    assert [s for s in to_blocked if s != 429] == [403]  # stopped writing at the first 403
    statuses = {r.payload["text"]: (r.status, r.error) for r in _rows(db) if r.address == str(blocked)}
    assert {s for s, _ in statuses.values()} == {"failed"}
    assert all(e and e.startswith("blocked") for _, e in statuses.values())
    with db.read() as session:
        identity = session.exec(select(ChannelIdentity).where(ChannelIdentity.address == str(blocked))).one()
    assert identity.blocked_at is not None
    assert all(r.status == "sent" for r in _rows(db) if r.address != str(blocked))


async def test_server_errors_retry_with_growing_backoff(sqlite_db: Database, api: FakeBotAPI) -> None:
    """5xx answers are retried with exponential backoff until the message goes through once."""
    _enqueue(sqlite_db, [(2001, "hello")])
    api.fail_next("sendMessage", 502, count=3)
    sender = _sender(sqlite_db, api, MemoryRateLimiter(per_chat_interval=0.01), base=0.1)
    await _run_until(sender, _settled(sqlite_db))
    attempts = api.calls_of("sendMessage")
    assert [c.status for c in attempts] == [502, 502, 502, 200]
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4
    (row,) = _rows(sqlite_db)
    assert (row.status, row.attempts, row.payload["message_id"]) == (
        "sent",
        4,
        attempts[-1].result["message_id"],
    )


async def test_rate_limits_respected(sqlite_db: Database, api: FakeBotAPI) -> None:
    """With Telegram's limits enforced, a burst to many chats gets no 429 and keeps 1/s per chat."""
    api.limits()
    messages = [(3999, f"same-{i}") for i in range(3)] + [(3000 + n, f"x{n}") for n in range(30)]
    _enqueue(sqlite_db, messages)
    sender = _sender(sqlite_db, api, MemoryRateLimiter())
    took = await _run_until(sender, _settled(sqlite_db))
    assert api.stats.rejected_429 == 0
    assert api.stats.sent == len(messages)
    assert api.stats.max_in_window(1.0) <= 30
    assert api.stats.max_in_window(1.0, chat_id=3999) == 1
    assert took < 3.5  # one chat's 3 messages need 2 s; the 30 others go meanwhile


async def test_long_text_split_at_lines_with_buttons_on_the_last_part(
    sqlite_db: Database, api: FakeBotAPI
) -> None:
    """A text over 4096 characters goes out in parts cut at line ends; the keyboard rides the last."""
    line = "a" * 99 + "\n"
    text = line * 60  # 6000 characters
    now = utcnow()
    with sqlite_db.write() as session:
        repo.enqueue_message(
            session,
            channel=CHANNEL,
            address="4001",
            payload={"text": text, "rows": [[{"label": "1", "value": "score:1"}]], "survey_id": 7},
            now=now,
        )
    sender = _sender(sqlite_db, api, MemoryRateLimiter(per_chat_interval=0.05))
    await _run_until(sender, _settled(sqlite_db))
    first, second = api.sent_messages(4001)
    assert len(first["text"]) <= 4096 and first["text"].endswith("a")
    assert first["text"] + "\n" + second["text"] == text.rstrip("\n")
    assert "reply_markup" not in first and second["reply_markup"]["inline_keyboard"][0][0]["text"] == "1"


async def test_delivered_question_marks_the_survey_delivered(db: Database, api: FakeBotAPI) -> None:
    """A survey question accepted by Telegram sets the survey's delivered_at (the funnel's 'delivered')."""
    from storage.tables import SurveyInstance

    now = utcnow()
    with db.write() as session:
        repo.ensure_customer(session, "tg-77", now)
        repo.bind_identity(session, "tg-77", CHANNEL, "77", now)
        survey = SurveyInstance(
            customer_id="tg-77", event_id="e-77", stage="delivered", metric="csat", due_at=now, created_at=now
        )
        session.add(survey)
        session.flush()
        survey_id = survey.id
        repo.enqueue_message(
            session,
            channel=CHANNEL,
            address="77",
            payload={"text": "Q?", "rows": [], "survey_id": survey_id},
            now=now,
        )
    await _run_until(_sender(db, api, MemoryRateLimiter(per_chat_interval=0.05)), _settled(db))
    with db.read() as session:
        delivered = session.get(SurveyInstance, survey_id)
        assert delivered is not None and delivered.delivered_at is not None


async def test_flood_waits_are_not_attempts_so_a_later_short_outage_fails_nothing(
    sqlite_db: Database, api: FakeBotAPI
) -> None:
    """A long 429 flood (many waits) followed by a short 5xx outage: every message is delivered
    exactly once, none fails, and the stored attempts count only the 5xx tries."""
    _enqueue(sqlite_db, [(7000 + i, f"q{i}") for i in range(5)])
    api.fail_next("sendMessage", 429, count=40, retry_after=0)  # read as 1 s waits, ~8 per chat
    api.fail_next("sendMessage", 502, count=5)
    sender = _sender(sqlite_db, api, MemoryRateLimiter(per_chat_interval=0.0), max_attempts=6, base=0.01)
    await _run_until(sender, _settled(sqlite_db), limit=20)
    rows = _rows(sqlite_db)
    assert [r.status for r in rows] == ["sent"] * 5
    assert sum(r.attempts for r in rows) <= 5 + 5  # one success each, plus at most the 5 server errors
    sent = [c.params["chat_id"] for c in api.calls_of("sendMessage") if c.ok]
    assert sorted(sent) == [7000 + i for i in range(5)]


async def test_html_error_page_on_sends_is_a_temporary_failure(sqlite_db: Database, api: FakeBotAPI) -> None:
    """A proxy's HTML 502 page (not JSON) on sendMessage is named, retried and then delivered once."""
    _enqueue(sqlite_db, [(7100, "hello")])
    api.fail_next("sendMessage", 502, count=2, html=True)
    sender = _sender(sqlite_db, api, MemoryRateLimiter(per_chat_interval=0.0), base=0.01)
    await _run_until(sender, _settled(sqlite_db))
    (row,) = _rows(sqlite_db)
    assert row.status == "sent" and row.error is None
    assert [c.status for c in api.calls_of("sendMessage")] == [502, 502, 200]
