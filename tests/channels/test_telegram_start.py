"""Deep links without extra settings, and the due question right after /start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.channels.telegram import username
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.settings import Settings
from bot.timers import run_due_work
from storage import links
from tests.channels.test_telegram_e2e import TOKEN, Harness, _has_buttons, _serve
from tests.fakes.bot_api import FakeBotAPI

CHAT = 558_001


@pytest.fixture
async def slow_ticks(tmp_path: Path) -> AsyncIterator[Harness]:
    """Polling, with a due-work tick only every minute (so only /start's own pass can be fast)."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0, bot_username="moka_shop_bot") as api:
        async for harness in _serve(tmp_path, api, webhook=False, due_work_interval=60.0):
            yield harness


async def test_due_question_follows_start_at_once_and_username_comes_from_get_me(slow_ticks: Harness) -> None:
    """Without CXBOT_TELEGRAM_BOT_USERNAME the deep link uses getMe's username; after /start the
    survey that waited for the chat is asked at once, not at the next due-work tick."""
    h = slow_ticks
    assert h.app.settings.telegram_bot_username is None
    assert username.bot_username(h.app.settings) == "moka_shop_bot"
    now = h.clock()
    event = {
        "event_id": "evt-s",
        "type": "order.delivered",
        "occurred_at": (now - timedelta(hours=3)).isoformat(),
        "customer": {"id": "c-s", "name": "Giulia", "language": "en"},
        "order": {"id": "o-s", "items": [{"name": "Moka"}]},
    }
    ingest_event(h.app.db, h.app.journey, BusinessEventIn.model_validate(event), now)
    with h.app.db.write() as session:
        token = links.issue_token(session, "c-s", now)
    assert links.deep_link(username.bot_username(h.app.settings), token) == (
        f"https://t.me/moka_shop_bot?start={token}"
    )
    assert await asyncio.to_thread(run_due_work, h.app.service, now, quiet=None) == {"waiting": 1}
    started = time.monotonic()
    h.api.push_message(CHAT, f"/start {token}", language_code="en")
    await h.sent(lambda p: p["chat_id"] == CHAT and _has_buttons(p) and "delivery" in p["text"])
    assert time.monotonic() - started < 3.0  # the tick is a minute away


def test_config_warns_when_no_username_can_be_had(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cxbot config` with a token, no username and no reachable Bot API warns (and still checks)."""
    from bot.cli.main import app

    monkeypatch.setenv("CXBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("CXBOT_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("CXBOT_TELEGRAM_API_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("CXBOT_TELEGRAM_BOT_USERNAME", raising=False)
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert "warning: CXBOT_TELEGRAM_BOT_USERNAME is not set" in result.output
    assert (
        username.fetch(Settings(telegram_token="123:abc", telegram_api_url="http://127.0.0.1:9"))[0] is None
    )


@pytest.fixture
async def polling(tmp_path: Path) -> AsyncIterator[Harness]:
    """A served bot in long-polling mode."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        async for harness in _serve(tmp_path, api, webhook=False):
            yield harness


async def test_another_customers_link_in_a_linked_chat_is_refused_politely(polling: Harness) -> None:
    """A chat linked to customer A that opens customer B's link is not moved to B: a polite
    refusal in the chat's language, A keeps the chat, B's link stays usable from B's own chat."""
    from sqlmodel import select

    from storage.tables import ChannelIdentity, InboxUpdate

    h = polling
    token_a = await h.deliver_event("c-a", "it")
    h.api.push_message(CHAT, f"/start {token_a}", language_code="it")
    await h.sent(lambda p: p["chat_id"] == CHAT and _has_buttons(p))
    token_b = await h.deliver_event("c-b", "en")
    h.api.push_message(CHAT, f"/start {token_b}", language_code="it")
    await h.sent(lambda p: p["chat_id"] == CHAT and "già collegata a un altro profilo" in p["text"])
    with h.app.db.read() as session:
        identities = {i.address: i.customer_id for i in session.exec(select(ChannelIdentity))}
        errors = [r.error for r in session.exec(select(InboxUpdate))]
    assert identities == {str(CHAT): "c-a"}
    assert "refused: chat linked to another customer" in errors
    h.api.push_message(CHAT + 1, f"/start {token_b}", language_code="en")
    await h.sent(lambda p: p["chat_id"] == CHAT + 1 and _has_buttons(p) and "delivery" in p["text"])


async def test_unknown_chats_are_answered_but_nothing_is_stored(polling: Harness) -> None:
    """A chat the shop never named writes "ciao", /help, /privacy and taps the erase button:
    each gets its answer, and no customer, identity or conversation row is created."""
    from sqlmodel import func, select

    from storage.tables import ChannelIdentity, Conversation, Customer

    h = polling
    stranger = CHAT + 50
    h.api.push_message(stranger, "ciao", language_code="it")
    h.api.push_message(stranger, "/help", language_code="it")
    h.api.push_message(stranger, "/privacy", language_code="it")
    (privacy,) = await h.sent(lambda p: p["chat_id"] == stranger and _has_buttons(p))
    assert len([c for c in h.api.calls_of("sendMessage") if c.params["chat_id"] == stranger]) >= 3
    erase = privacy.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    h.api.push_callback(stranger, privacy.result["message_id"], erase, language_code="it")
    await h.api.wait_for(lambda c: c.method == "answerCallbackQuery", timeout=5)
    await h.sent(lambda p: p["chat_id"] == stranger, 4)
    with h.app.db.read() as session:
        counts = [
            session.exec(select(func.count()).select_from(t)).one()
            for t in (Customer, ChannelIdentity, Conversation)
        ]
    assert counts == [0, 0, 0]
