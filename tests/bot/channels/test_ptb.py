"""python-telegram-bot 22 integration, end to end against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.channels.ptb import add_cxbot_handlers, button_secret, deliver_outbox, sign, verify
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.engine.wiring import App
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.settings import Settings
from flows.conversation import Command, CommandName
from flows.journey import Journey
from storage import repo
from storage.db import Database
from storage.links import issue_token
from storage.tables import Customer, Escalation, OutboxMessage, Response, SurveyInstance
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "123456:PTB-TEST-TOKEN"
CHAT = 4242


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """Yield a running fake Bot API."""
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
def cx(db: Database, journey: Journey, clock: Any) -> App:
    """Return the app on each database with the test clock."""
    settings = Settings(database_url="sqlite://", _env_file=None)
    return App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=clock))


async def shop_echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The shop's own handler: answers any text."""
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, "shop: how can I help?")


@pytest.fixture
async def ptb(
    api: FakeBotAPI, cx: App, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Yield a polling PTB application (the shop's bot) with cxbot's handlers added."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    application = ApplicationBuilder().token(TOKEN).base_url(f"{api.url}/bot").build()
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, shop_echo))
    add_cxbot_handlers(application, cx, poll_interval=None)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=timedelta(seconds=1))
        yield application
        await application.updater.stop()
        await application.stop()


def waiting_survey(cx: App, clock: Any) -> str:
    """Make a delivery survey due for a customer not yet on Telegram; return their start token."""
    now = clock.now
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-2002-delivered",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-7", "language": "it"},
            "order": {"id": "2002", "items": [{"name": "Moka 6 tazze"}]},
        }
    )
    ingest_event(cx.db, cx.journey, event, now, quiet=None)
    assert run_due_work(cx.service, now) == {"waiting": 1}
    with cx.db.write() as session:
        return issue_token(session, "c-7", now)


def buttons_of(call_params: dict[str, Any]) -> dict[str, str]:
    """Return {label: callback_data} of a sendMessage's inline keyboard."""
    markup = call_params["reply_markup"]
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def test_customer_answers_survey_in_ptb_app(
    api: FakeBotAPI, ptb: Application[Any, Any, Any, Any, Any, Any], cx: App, clock: Any
) -> None:
    """Deep-link /start binds the chat, the due survey is asked, a tap and a typed reason are stored."""
    token = waiting_survey(cx, clock)
    api.push_message(CHAT, "/start " + token)
    calls = await api.wait_for(lambda c: c.method == "sendMessage" and "reply_markup" in c.params)
    question = calls[0]
    assert "consegna" in question.params["text"]
    score_buttons = buttons_of(question.params)
    assert list(score_buttons) == ["1", "2", "3", "4", "5"]

    api.push_callback(CHAT, question.result["message_id"], score_buttons["2"])
    await api.wait_for("answerCallbackQuery")
    follow_up = (await api.wait_for(lambda c: c.method == "sendMessage" and "reply_markup" in c.params, 2))[
        -1
    ]
    assert "In ritardo" in buttons_of(follow_up.params)

    api.push_message(CHAT, "il corriere ha lanciato il pacco oltre il cancello")
    await api.wait_for("sendMessage", 4)  # welcome, question, follow-up, then the engine's reply
    with cx.db.read() as session:
        response = session.exec(select(Response)).one()
        escalation = session.exec(select(Escalation)).one()
    assert (response.customer_id, response.score, response.channel) == ("c-7", 2, "telegram")
    assert response.comment == "il corriere ha lanciato il pacco oltre il cancello"
    assert escalation.customer_id == "c-7"
    # cxbot handled the survey replies: the shop's echo never answered them.
    assert not [m for m in api.sent_messages(CHAT) if m["text"].startswith("shop:")]


async def test_chat_outside_a_survey_reaches_the_shop_bot(
    api: FakeBotAPI, ptb: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    """A stranger's /start and small talk are left to the shop's own handlers."""
    api.push_message(CHAT + 1, "/start")
    api.push_message(CHAT + 1, "ciao, avete la moka da 3 tazze?")
    await api.wait_for("sendMessage")
    assert [m["text"] for m in api.sent_messages(CHAT + 1)] == ["shop: how can I help?"]


def test_callback_data_is_signed_per_chat(cx: App) -> None:
    """Buttons fit Telegram's 64 bytes and a press forged or replayed from another chat is refused."""
    secret = button_secret(cx, TOKEN)
    data = sign(secret, str(CHAT), 123456789, "reason:damaged")
    assert len(data.encode()) <= 64
    press = verify(secret, str(CHAT), data)
    assert press is not None and (press.survey_id, press.value) == (123456789, "reason:damaged")
    assert verify(secret, str(CHAT + 1), data) is None
    assert verify(secret, str(CHAT), data.replace("damaged", "late")) is None


async def test_stop_command_opts_out(
    api: FakeBotAPI, ptb: Application[Any, Any, Any, Any, Any, Any], cx: App, clock: Any
) -> None:
    """/stop from a bound customer opts them out and skips the open survey; the reply is in Italian."""
    token = waiting_survey(cx, clock)
    api.push_message(CHAT, "/start " + token)
    await api.wait_for("sendMessage", 2)
    api.push_message(CHAT, "/stop")
    (reply,) = [c for c in await api.wait_for("sendMessage", 3)][2:]
    assert "sondaggi" in reply.params["text"]
    with cx.db.read() as session:
        customer = session.get(Customer, "c-7")
        survey = session.exec(select(SurveyInstance).where(col(SurveyInstance.stage) == "delivered")).one()
    assert customer is not None and customer.opted_out
    assert survey.status == "skipped"


async def test_delivery_retries_429_and_blocks_on_403(
    api: FakeBotAPI, ptb: Application[Any, Any, Any, Any, Any, Any], cx: App, clock: Any
) -> None:
    """A 429 keeps the message pending until retry_after; a 403 fails it and marks the chat blocked."""
    with cx.db.write() as session:
        repo.ensure_customer(session, "c-9", clock.now)
        repo.bind_identity(session, "c-9", "telegram", str(CHAT), clock.now)
    api.add_chat(CHAT, "private")
    cx.service.feed("c-9", Command(name=CommandName.HELP))
    api.fail_next("sendMessage", 429, retry_after=3)
    assert await deliver_outbox(ptb, cx) == 0
    with cx.db.read() as session:
        pending = session.exec(select(OutboxMessage).where(col(OutboxMessage.status) == "pending")).one()
    assert pending.not_before.replace(tzinfo=None) == (clock.now + timedelta(seconds=3)).replace(tzinfo=None)
    clock.advance(seconds=3)
    api.block_chat(CHAT)
    assert await deliver_outbox(ptb, cx) == 0
    with cx.db.read() as session:
        message = session.get(OutboxMessage, pending.id)
        identity = repo.find_identity(session, "telegram", str(CHAT))
    assert message is not None and message.status == "failed"
    assert identity is not None and identity.blocked_at is not None


async def test_another_customers_link_never_moves_a_linked_chat(
    api: FakeBotAPI, ptb: Application[Any, Any, Any, Any, Any, Any], cx: App, clock: Any
) -> None:
    """A deep link of another customer in a chat already linked binds nothing (the same rule as the
    aiogram channel's): the chat's own customer is greeted and the other's survey keeps waiting."""
    token = waiting_survey(cx, clock)
    with cx.db.write() as session:
        repo.ensure_customer(session, "c-9", clock.now)
        repo.bind_identity(session, "c-9", "telegram", str(CHAT), clock.now)
    api.push_message(CHAT, "/start " + token)
    (welcome,) = await api.wait_for("sendMessage")
    assert "reply_markup" not in welcome.params or not buttons_of(welcome.params)
    with cx.db.read() as session:
        identity = repo.find_identity(session, "telegram", str(CHAT))
        survey = session.exec(select(SurveyInstance).where(col(SurveyInstance.stage) == "delivered")).one()
    assert identity is not None and identity.customer_id == "c-9"
    assert (survey.customer_id, survey.sent_at) == ("c-7", None)
