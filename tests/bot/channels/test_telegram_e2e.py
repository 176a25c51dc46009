"""The Telegram channel end to end: the real aiogram client against the loopback fake Bot API."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.channels import callbacks
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.processor import ProcessorConfig
from bot.delivery.sender import MemoryRateLimiter, SenderConfig
from bot.engine.wiring import App, build_app
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.settings import Settings
from bot.infra.supervision import Supervisor
from bot.runtime.serve import Runtime
from storage import links
from storage.tables import ChannelIdentity, DueWork, InboxUpdate, Response
from tests.clocks import RunningClock, tuesday_morning
from tests.fakes.bot_api import Call, FakeBotAPI

TOKEN = "123456:TEST-token"
LINK_SECRET = "link-secret-for-tests"
WEBHOOK_SECRET = "hook-secret"
CHAT = 555_001


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Harness:
    """A running ``cxbot serve`` (HTTP, timers, Telegram) talking to the fake Bot API."""

    app: App
    api: FakeBotAPI
    clock: RunningClock
    port: int

    async def deliver_event(self, customer_id: str, language: str, *, chat_id: int | None = None) -> str:
        """Record an order delivered 3 hours ago (its CSAT is due) and return a start token.

        Returns once the survey waits for a channel (the due-work tick found no chat to ask in).
        """
        now = self.clock()
        customer: dict[str, Any] = {"id": customer_id, "name": "Giulia", "language": language}
        if chat_id is not None:
            customer["telegram_chat_id"] = chat_id
        event = BusinessEventIn.model_validate(
            {
                "event_id": f"evt-{customer_id}-delivered",
                "type": "order.delivered",
                "occurred_at": (now - timedelta(hours=3)).isoformat(),
                "customer": customer,
                "order": {"id": f"o-{customer_id}", "items": [{"name": "Moka 6 tazze"}]},
            }
        )
        ingest_event(self.app.db, self.app.journey, event, now)
        with self.app.db.write() as session:
            token = links.issue_token(session, customer_id, now)
        for _ in range(100):
            with self.app.db.read() as session:
                work = session.exec(select(DueWork).where(DueWork.customer_id == customer_id)).first()
            if work is not None and work.status == "waiting":
                return token
            await asyncio.sleep(0.02)
        raise AssertionError("the survey never waited for a channel")

    def responses(self) -> list[Response]:
        with self.app.db.read() as session:
            return list(session.exec(select(Response)))

    async def sent(self, predicate: Callable[[dict[str, Any]], bool], count: int = 1) -> list[Call]:
        """Wait for ``count`` successful sendMessage calls whose params match ``predicate``."""
        return await self.api.wait_for(
            lambda c: c.method == "sendMessage" and c.ok and predicate(c.params), count, timeout=4
        )


async def _serve(
    tmp_path: Path,
    api: FakeBotAPI,
    *,
    webhook: bool,
    wait_start: bool = True,
    due_work_interval: float = 0.1,
) -> AsyncIterator[Harness]:
    clock = tuesday_morning()
    port = _free_port()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tg.db'}",
        telegram_token=TOKEN,
        telegram_api_url=api.url,
        link_secret=LINK_SECRET,
        http_port=port,
        webhook_secret=WEBHOOK_SECRET if webhook else None,
        public_url=f"http://127.0.0.1:{port}" if webhook else None,
    )
    app = build_app(settings, clock=clock)
    supervisor = Supervisor()
    channel = TelegramChannel(
        app,
        processor=ProcessorConfig(idle_interval=0.05),
        sender=SenderConfig(idle_interval=0.05),
        limiter=MemoryRateLimiter(per_chat_interval=0.05),
        poll_timeout=1,
        supervisor=supervisor,
    )
    runtime = Runtime(app=app, due_work_interval=due_work_interval, supervisor=supervisor, channels=[channel])
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    if wait_start:
        await api.wait_for("setMyCommands", 3)
    try:
        yield Harness(app, api, clock, port)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        assert task.exception() is None


@pytest.fixture
async def polling(tmp_path: Path) -> AsyncIterator[Harness]:
    """A served bot in long-polling mode."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        async for harness in _serve(tmp_path, api, webhook=False):
            yield harness


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[Harness]:
    """A served bot in webhook mode; the fake POSTs its updates to our webhook."""
    async with FakeBotAPI(require_token=TOKEN, deliver_webhooks=True, webhook_retry_delay=0.05) as api:
        async for harness in _serve(tmp_path, api, webhook=True):
            await api.wait_for("setWebhook")
            yield harness


def _button(call: Call, value: str) -> str:
    for row in call.params["reply_markup"]["inline_keyboard"]:
        for button in row:
            if f".{value}." in button["callback_data"]:
                return str(button["callback_data"])
    raise AssertionError(f"no button {value}")


def _has_buttons(params: dict[str, Any]) -> bool:
    return "reply_markup" in params


async def test_deep_link_tap_score_then_reason(polling: Harness) -> None:
    """Deep link → CSAT buttons → tap 2 → question edited, buttons gone → reason typed → thanked, stored."""
    h = polling
    token = await h.deliver_event("c-42", "en")
    h.api.push_message(CHAT, f"/start {token}", language_code="en")
    (question,) = await h.sent(lambda p: _has_buttons(p) and "delivery" in p["text"])
    assert question.params["chat_id"] == CHAT
    labels = [b["text"] for b in question.params["reply_markup"]["inline_keyboard"][0]]
    assert labels == ["1", "2", "3", "4", "5"]
    message_id = question.result["message_id"]

    h.api.push_callback(CHAT, message_id, _button(question, "score:2"), language_code="en")
    await h.sent(lambda p: "main reason" in p["text"])
    (answer,) = await h.api.wait_for("answerCallbackQuery")
    assert not answer.params.get("text")  # accepted: no complaint shown
    await h.api.wait_for("editMessageText")
    edited = next(m for m in h.api.chat_messages(CHAT) if m["message_id"] == message_id)
    assert edited["text"].endswith("✅ 2")
    assert "reply_markup" not in edited

    h.api.push_message(CHAT, "The parcel arrived two days late and the box was crushed", language_code="en")
    await h.sent(lambda p: "Thank you for telling us" in p["text"])
    (response,) = h.responses()
    assert response.score == 2
    assert response.comment is not None and "crushed" in response.comment
    assert (response.customer_id, response.channel) == ("c-42", "telegram")
    with h.app.db.read() as session:
        identity = session.exec(select(ChannelIdentity)).one()
    assert (identity.customer_id, identity.address) == ("c-42", str(CHAT))


async def test_typed_answers_in_italian(polling: Harness) -> None:
    """In Italian the customer types "due" and a reason instead of tapping; both are stored."""
    h = polling
    token = await h.deliver_event("c-it", "it")
    h.api.push_message(CHAT, f"/start {token}", language_code="it")
    await h.sent(lambda p: _has_buttons(p) and "consegna" in p["text"])
    h.api.push_message(CHAT, "due")
    await h.sent(lambda p: "Qual è il motivo principale" in p["text"])
    h.api.push_message(CHAT, "Il pacco era rovinato")
    await h.sent(lambda p: p["text"].startswith("Grazie di avercelo detto"))
    (response,) = h.responses()
    assert (response.score, response.language) == (2, "it")
    assert response.comment == "Il pacco era rovinato"
    assert h.api.pending_updates() == []  # every update was confirmed through the offset


async def test_forged_and_stale_presses_change_nothing(polling: Harness) -> None:
    """A tampered button and a validly signed one for another survey store nothing and say so in
    a pop-up only (no chat message repeating it)."""
    h = polling
    token = await h.deliver_event("c-f", "en")
    h.api.push_message(CHAT, f"/start {token}", language_code="en")
    (question,) = await h.sent(lambda p: _has_buttons(p) and "delivery" in p["text"])
    message_id = question.result["message_id"]
    genuine = _button(question, "score:2")
    forged = genuine.replace(".score:2.", ".score:5.")
    h.api.push_callback(CHAT, message_id, forged, language_code="en")
    (first,) = await h.api.wait_for("answerCallbackQuery")
    assert first.params["text"] == "This button isn't valid."

    stale = callbacks.sign(LINK_SECRET.encode(), str(CHAT), 9999, "score:5")
    h.api.push_callback(CHAT, message_id, stale, language_code="en")
    answers = await h.api.wait_for("answerCallbackQuery", 2)
    assert answers[1].params["text"] == "That question is no longer open."
    await asyncio.sleep(0.3)  # room for a chat message (there must be none: the pop-up says it)
    assert not [m for m in h.api.sent_messages(CHAT) if m["text"] == "That question is no longer open."]
    assert h.responses() == []
    assert h.api.calls_of("editMessageText") == []
    shown = next(m for m in h.api.chat_messages(CHAT) if m["message_id"] == message_id)
    assert "reply_markup" in shown  # the buttons are still there, still answerable

    h.api.push_callback(CHAT, message_id, genuine, language_code="en")
    await h.api.wait_for("editMessageText")
    assert [r.score for r in h.responses()] == [2]


async def test_bad_token_and_plain_start(polling: Harness) -> None:
    """A tampered token binds nothing and gets a polite message; a plain /start greets a stranger
    without creating a customer (data minimisation); /lingua answers them too."""
    h = polling
    token = await h.deliver_event("c-t", "it")
    h.api.push_message(CHAT, f"/start {token[:-2]}xx", language_code="it")
    await h.sent(lambda p: "link non è valido" in p["text"])
    h.api.push_message(CHAT + 1, "/start", language_code="en")
    await h.sent(lambda p: p["chat_id"] == CHAT + 1 and p["text"].startswith("Hi! I'm the"))
    with h.app.db.read() as session:
        identities = {i.address: i.customer_id for i in session.exec(select(ChannelIdentity))}
    assert identities == {}  # a stranger is answered, but nothing is stored about them
    h.api.push_message(CHAT + 1, "/lingua it")
    await h.sent(lambda p: p["chat_id"] == CHAT + 1 and "italiano" in p["text"].lower())
    menus = {c.params.get("language_code") for c in h.api.calls_of("setMyCommands")}
    assert menus == {"it", "en", None}


async def test_webhook_mode_and_secret(webhook: Harness) -> None:
    """Through the webhook: deep link to question; wrong/missing secret refused; duplicates dropped."""
    h = webhook
    token = await h.deliver_event("c-w", "en")
    h.api.push_message(CHAT, f"/start {token}", language_code="en")
    await h.sent(lambda p: _has_buttons(p) and "delivery" in p["text"])
    assert h.api.webhook_deliveries and all(d.status == 200 for d in h.api.webhook_deliveries)

    url = f"http://127.0.0.1:{h.port}/telegram/webhook"
    update = {
        "update_id": 777,
        "message": {
            "message_id": 90,
            "date": 0,
            "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "text": "4",
        },
    }
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json=update)
        wrong = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
        assert (missing.status_code, wrong.status_code) == (401, 403)
        with h.app.db.read() as session:
            assert session.exec(select(InboxUpdate).where(InboxUpdate.external_id == "777")).first() is None
        good = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        first = await client.post(url, json=update, headers=good)
        second = await client.post(url, json=update, headers=good)
    assert (first.status_code, second.status_code) == (200, 200)
    await h.sent(lambda p: "main reason" in p["text"])
    await asyncio.sleep(0.3)  # room for a second (wrong) processing
    assert [r.score for r in h.responses()] == [4]
    assert len([c for c in h.api.sent_messages(CHAT) if "main reason" in c["text"]]) == 1
    with h.app.db.read() as session:
        rows = session.exec(select(InboxUpdate).where(InboxUpdate.external_id == "777")).all()
    assert len(rows) == 1 and rows[0].processed_at is not None


async def test_skip_is_acknowledged_as_a_skip(polling: Harness) -> None:
    """Skip on the reason question: the pop-up says it was skipped and the message shows the choice."""
    h = polling
    token = await h.deliver_event("c-42", "it")
    h.api.push_message(CHAT, f"/start {token}", language_code="it")
    (question,) = await h.sent(lambda p: _has_buttons(p) and "consegna" in p["text"])
    h.api.push_callback(CHAT, question.result["message_id"], _button(question, "score:4"), language_code="it")
    (follow_up,) = await h.sent(lambda p: _has_buttons(p) and "motivo principale" in p["text"])
    h.api.push_callback(CHAT, follow_up.result["message_id"], _button(follow_up, "skip"), language_code="it")
    await h.sent(lambda p: "ci aiuta molto" in p["text"])
    answers = await h.api.wait_for("answerCallbackQuery", 2)
    assert answers[-1].params.get("text") == "Ok, domanda saltata."
    await h.api.wait_for(lambda c: c.method == "editMessageText" and "Salta" in str(c.params.get("text")))
    edited = next(m for m in h.api.chat_messages(CHAT) if m["message_id"] == follow_up.result["message_id"])
    assert edited["text"].endswith("⏭️ Salta") and "reply_markup" not in edited
