"""Escalations through the real Telegram channel (aiogram) and the fake Bot API, end to end."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.processor import ProcessorConfig
from bot.delivery.sender import MemoryRateLimiter, SenderConfig
from bot.engine.wiring import App, build_app
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.settings import Settings
from bot.infra.supervision import Supervisor
from bot.runtime.serve import Runtime
from storage.tables import Escalation
from tests.clocks import tuesday_morning
from tests.fakes.bot_api import Call, FakeBotAPI

TOKEN = "123456:TEST-token"
CHAT = 555_042
AGENTS = -100_777
AGENT = 4_001


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[App, FakeBotAPI]]:
    """A running ``cxbot serve`` with an agents' group, polling the fake Bot API."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        api.add_chat(AGENTS, "supergroup", title="Agents")
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{tmp_path / 'tg.db'}",
            telegram_token=TOKEN,
            telegram_api_url=api.url,
            link_secret="link-secret",
            http_port=_free_port(),
            agents_chat_id=AGENTS,
            agent_ids=[AGENT],
            desk_language="en",
        )
        app = build_app(settings, clock=tuesday_morning())
        channel = TelegramChannel(
            app,
            processor=ProcessorConfig(idle_interval=0.05),
            sender=SenderConfig(idle_interval=0.05),
            limiter=MemoryRateLimiter(per_chat_interval=0.01, per_group_per_min=6000),
            poll_timeout=1,
            supervisor=(supervisor := Supervisor()),
        )
        runtime = Runtime(app=app, due_work_interval=0.1, supervisor=supervisor, channels=[channel])
        stop = asyncio.Event()
        task = asyncio.create_task(runtime.run(stop))
        await api.wait_for("setMyCommands", 3)
        try:
            yield app, api
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)


async def _sent(api: FakeBotAPI, predicate: Callable[[dict[str, Any]], bool], count: int = 1) -> list[Call]:
    return await api.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and predicate(c.params), count, timeout=5
    )


def _buttons(params: dict[str, Any]) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in params["reply_markup"]["inline_keyboard"] for b in row}


async def open_detractor_case(app: App, api: FakeBotAPI, customer: str) -> Call:
    """Ask ``customer`` (English, chat CHAT) the delivery CSAT, tap 1: a case opens and nobody
    holds it yet. Return the card's sendMessage call."""
    now = app.service.clock()
    event = BusinessEventIn.model_validate(
        {
            "event_id": f"evt-{customer}",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "customer": {"id": customer, "name": "Giulia", "language": "en", "telegram_chat_id": CHAT},
            "order": {"id": f"o-{customer}", "items": [{"name": "Moka"}]},
        }
    )
    api.add_chat(CHAT)
    ingest_event(app.db, app.journey, event, now)
    (question,) = await _sent(api, lambda p: p["chat_id"] == CHAT and "reply_markup" in p)
    api.push_callback(CHAT, question.result["message_id"], _buttons(question.params)["1"], language_code="en")
    (card,) = await _sent(api, lambda p: p["chat_id"] == AGENTS)
    return card


def _escalation(app: App) -> Escalation:
    with app.db.read() as session:
        return session.exec(select(Escalation)).one()


async def test_detractor_card_take_reply_relay_resolve(served: tuple[App, FakeBotAPI]) -> None:
    """Through Telegram: one card; a stranger is refused; take, reply, relay, resolve; closing Yes stored."""
    app, api = served
    now = app.service.clock()
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-e2e",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-7", "name": "Giulia", "language": "en", "telegram_chat_id": CHAT},
            "order": {"id": "o-7", "items": [{"name": "Moka"}]},
        }
    )
    api.add_chat(CHAT)
    ingest_event(app.db, app.journey, event, now)
    (question,) = await _sent(api, lambda p: p["chat_id"] == CHAT and "reply_markup" in p)
    one = next(v for k, v in _buttons(question.params).items() if k == "1")
    api.push_callback(CHAT, question.result["message_id"], one, language_code="en")

    (card,) = await _sent(api, lambda p: p["chat_id"] == AGENTS)
    assert "P1" in card.params["text"] and "Giulia" in card.params["text"]
    card_id = card.result["message_id"]
    buttons = _buttons(card.params)

    api.push_callback(AGENTS, card_id, buttons["✋ Take"], user_id=999)
    (refusal,) = await api.wait_for(
        lambda c: c.method == "answerCallbackQuery" and bool(c.params.get("show_alert")), timeout=5
    )
    assert "agent" in refusal.params["text"]
    assert _escalation(app).status == "open"

    api.push_callback(AGENTS, card_id, buttons["✋ Take"], user_id=AGENT)
    await api.wait_for(lambda c: c.method == "editMessageText" and c.params["chat_id"] == AGENTS, timeout=5)
    await _sent(api, lambda p: p["chat_id"] == CHAT and "Someone from" in p["text"])
    assert _escalation(app).status == "taken"

    api.push_message(
        AGENTS,
        "We are sending a new one today",
        user_id=AGENT,
        chat_type="supergroup",
        reply_to_message_id=card_id,
    )
    await _sent(api, lambda p: p["chat_id"] == CHAT and p["text"] == "We are sending a new one today")

    api.push_message(CHAT, "Thanks! Which courier?", language_code="en")
    (relay,) = await _sent(api, lambda p: p["chat_id"] == AGENTS and "Which courier?" in p["text"])
    assert relay.params["reply_parameters"]["message_id"] == card_id

    card_now = next(m for m in api.chat_messages(AGENTS) if m["message_id"] == card_id)
    resolve = {
        b["text"]: b["callback_data"] for row in card_now["reply_markup"]["inline_keyboard"] for b in row
    }
    api.push_callback(AGENTS, card_id, resolve["✅ Resolve"], user_id=AGENT)
    (closing,) = await _sent(api, lambda p: p["chat_id"] == CHAT and "Did we solve" in p["text"])
    yes = _buttons(closing.params)["👍 Yes"]
    api.push_callback(CHAT, closing.result["message_id"], yes, language_code="en")
    for _ in range(100):
        if _escalation(app).closing_answer == "yes":
            break
        await asyncio.sleep(0.05)
    escalation = _escalation(app)
    assert (escalation.status, escalation.closing_answer) == ("resolved", "yes")
    assert (
        len(
            [
                c
                for c in api.calls_of("sendMessage")
                if c.params["chat_id"] == AGENTS and "reply_markup" in c.params
            ]
        )
        == 1
    )
