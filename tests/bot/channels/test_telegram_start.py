"""Deep links without extra settings, and the due question right after /start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.channels.telegram import username
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.settings import Settings
from flows.journey import Journey
from flows.scales import Lang
from storage import links
from storage.tables import DueWork, SurveyInstance
from tests.bot.channels.test_telegram_e2e import TOKEN, Harness, _has_buttons, _serve
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI

CHAT = 558_001


@pytest.fixture
async def slow_ticks(tmp_path: Path) -> AsyncIterator[Harness]:
    """Polling, with a due-work tick only every minute (so only /start's own pass can be fast)."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0, bot_username="moka_shop_bot") as api:
        async for harness in _serve(tmp_path, api, webhook=False, due_work_interval=60.0):
            yield harness


async def _waiting_for_a_chat(h: Harness, customer: str) -> str:
    """Deliver an order of ``customer`` (no chat known): its CSAT waits for a chat. Return a start token."""
    now = h.clock()
    event = {
        "event_id": f"evt-{customer}",
        "type": "order.delivered",
        "occurred_at": (now - timedelta(hours=3)).isoformat(),
        "customer": {"id": customer, "name": "Giulia", "language": "en"},
        "order": {"id": f"o-{customer}", "items": [{"name": "Moka"}]},
    }
    ingest_event(h.app.db, h.app.journey, BusinessEventIn.model_validate(event), now)
    with h.app.db.write() as session:
        token = links.issue_token(session, customer, now)
    assert await asyncio.to_thread(run_due_work, h.app.service, now, quiet=None) == {"waiting": 1}
    return token


async def test_due_question_follows_start_at_once_and_username_comes_from_get_me(slow_ticks: Harness) -> None:
    """Without CXBOT_TELEGRAM_BOT_USERNAME the deep link uses getMe's username; after /start the
    survey that waited for the chat is asked at once, not at the next due-work tick."""
    h = slow_ticks
    assert h.app.settings.telegram_bot_username is None
    assert username.bot_username(h.app.settings) == "moka_shop_bot"
    token = await _waiting_for_a_chat(h, "c-s")
    assert links.deep_link(username.bot_username(h.app.settings), token) == (
        f"https://t.me/moka_shop_bot?start={token}"
    )
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


async def test_username_fetched_through_the_bot_api_client() -> None:
    """`fetch` reads the username from getMe through the one Bot API client; a refused token says why."""
    async with FakeBotAPI(require_token=TOKEN, bot_username="moka_shop_bot") as api:
        known = Settings(telegram_token=TOKEN, telegram_api_url=api.url, _env_file=None)
        wrong = Settings(telegram_token="999:nope", telegram_api_url=api.url, _env_file=None)
        assert await asyncio.to_thread(username.fetch, known) == ("moka_shop_bot", None)
        found, why = await asyncio.to_thread(username.fetch, wrong)
    assert found is None and why is not None and why.startswith("getMe: refused")
    assert "nope" not in why  # the token never appears in what is printed


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


async def test_due_question_arrives_in_the_welcome_message(slow_ticks: Harness) -> None:
    """/start from the deep link answers with one message: the welcome, then the survey that waited
    for the chat with its buttons; the question is not sent a second time after it."""
    h = slow_ticks
    token = await _waiting_for_a_chat(h, "c-w")
    h.api.push_message(CHAT, f"/start {token}", language_code="en")
    (first,) = await h.sent(lambda p: p["chat_id"] == CHAT)
    welcome = h.app.journey.messages.welcome(Lang.EN).replace("{brand}", h.app.journey.brand)
    assert first.params["text"].startswith(welcome + "\n\n")
    assert "delivery" in first.params["text"].removeprefix(welcome) and _has_buttons(first.params)
    await asyncio.sleep(0.5)  # anything else the pass would have sent meanwhile
    assert len(h.api.sent_messages(CHAT)) == 1
    with h.app.db.read() as session:
        survey = session.exec(
            select(SurveyInstance).where(
                SurveyInstance.customer_id == "c-w", SurveyInstance.stage == "delivered"
            )
        ).one()
        work = session.exec(select(DueWork).where(DueWork.survey_id == survey.id)).all()
    assert [w.status for w in work if w.kind == "survey_due"] == ["done"]  # not asked again by a pass
    assert survey.status == "sent"


def test_start_asks_the_due_survey_only_when_a_due_work_pass_would(
    service: Service, clock: FakeClock, journey: Journey
) -> None:
    """`due_at_start` applies the pass's decision: a waiting survey is handed to /start in the
    sending window, left to the pass (None) at night or for a customer with no waiting survey."""
    from bot.engine.timers import due_at_start
    from flows.scheduling import DEFAULT_QUIET_HOURS

    event = {
        "event_id": "evt-d",
        "type": "order.delivered",
        "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
        "customer": {"id": "c-d", "name": "Giulia", "language": "en", "timezone": "Europe/Rome"},
        "order": {"id": "o-d", "items": [{"name": "Moka"}]},
    }
    ingest_event(service.db, journey, BusinessEventIn.model_validate(event), clock.now)
    assert due_at_start(service, "c-d", clock.now, quiet=None) is None  # not waiting yet
    assert run_due_work(service, clock.now, quiet=None) == {"waiting": 1}
    found = due_at_start(service, "c-d", clock.now, quiet=None)
    assert found is not None and found[1].stage == "delivered"
    night = clock.now.replace(hour=1, minute=0) + timedelta(days=1)
    assert due_at_start(service, "c-d", night, quiet=DEFAULT_QUIET_HOURS) is None
    assert due_at_start(service, "nobody", clock.now, quiet=None) is None


def test_engine_puts_the_due_question_in_the_welcome_unless_one_is_open(
    journey: Journey, clock: FakeClock
) -> None:
    """Started with a due survey: one message, welcome then question (Italian here); with a
    question already open the due survey queues and the welcome stays its own message."""
    from flows.conversation import ActiveSurvey, ConversationState, Engine, Send, Started, SurveyDue

    engine = Engine(journey)
    due = SurveyDue(survey_id=7, stage="delivered", placeholders={"order_id": "o-1"})
    state, actions = engine.step(ConversationState(language=Lang.IT), Started(bound=True, due=due), clock.now)
    sends = [a for a in actions if isinstance(a, Send)]
    assert len(sends) == 1 and sends[0].survey_id == 7 and sends[0].rows
    welcome = journey.messages.welcome(Lang.IT).replace("{brand}", journey.brand)
    assert sends[0].text.startswith(welcome + "\n\n") and state.active is not None
    assert isinstance(state.active, ActiveSurvey)

    busy, _ = engine.step(state, Started(bound=True, due=due.model_copy(update={"survey_id": 8})), clock.now)
    _, again = engine.step(state, Started(bound=True, due=due.model_copy(update={"survey_id": 8})), clock.now)
    texts = [a.text for a in again if isinstance(a, Send)]
    assert texts[0] == welcome and len(texts) == 2  # the welcome, then the open question again
    assert [p.survey_id for p in busy.queue] == [8]
