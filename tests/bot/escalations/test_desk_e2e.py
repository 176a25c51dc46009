"""The agents' desk end to end with the fake Bot API: card, take, reply, relay, resolve, closing loop.

The Telegram channel adapter had not landed when this was written, so agents' updates are handed to
``handle_agent_update`` directly (as the adapter will) and customers' messages are read from the outbox.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aiogram import Bot
from sqlmodel import Session, select

from bot.channels.telegram.agents import handle_agent_update
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.escalations.sla import recovery
from flows.conversation import ButtonPress, CustomerText
from storage.tables import Escalation
from tests.bot.escalations.conftest import AGENT, AGENTS, CHAT, DeskApp, detractor
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI


def _escalations(app: App) -> list[Escalation]:
    with app.db.read() as session:
        return list(session.exec(select(Escalation)))


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row}


async def test_detractor_to_closing_question(
    service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp
) -> None:
    """Detractor: one card; a non-agent is refused; take, reply, answer, resolve, closing question."""
    app, _config, call, pump = desk_app
    detractor(service, clock)
    await pump()
    cards = api.sent_messages(AGENTS)
    assert len(cards) == 1
    card_text = cards[0]["text"]
    assert "P1" in card_text and "Giulia" in card_text and "1001" in card_text and "CSAT 1" in card_text
    [escalation] = _escalations(app)
    assert escalation.card_message_id is not None
    card_id = escalation.card_message_id
    buttons = _buttons(api.chat_messages(AGENTS)[-1])
    assert set(buttons) == {"✋ Take", "✅ Resolve"}

    # Someone who is not an agent presses Take: nothing changes, a short refusal.
    stranger = api.push_callback(AGENTS, card_id, buttons["✋ Take"], user_id=999)
    assert await handle_agent_update(app, stranger, call=call) == "refused"
    assert _escalations(app)[0].status == "open"
    assert api.calls_of("answerCallbackQuery")[-1].params["show_alert"] is True
    forged = api.push_callback(AGENTS, card_id, buttons["✋ Take"][:-2] + "xx", user_id=AGENT)
    assert await handle_agent_update(app, forged, call=call) == "ignored"

    # The agent takes it: the card is edited, the customer is told a person is looking at it.
    take = api.push_callback(AGENTS, card_id, buttons["✋ Take"], user_id=AGENT)
    assert await handle_agent_update(app, take, call=call) == "taken"
    await pump()
    assert "taken by" in api.chat_messages(AGENTS)[0]["text"]
    assert len(api.sent_messages(AGENTS)) == 1  # edited, not re-posted
    assert "persona" in pump.customer[-1]["text"]

    # The agent replies to the card: the customer receives the words in the bot's voice.
    reply = api.push_message(
        AGENTS,
        "Ti spediamo subito un pacco nuovo",
        user_id=AGENT,
        chat_type="supergroup",
        reply_to_message_id=card_id,
    )
    assert await handle_agent_update(app, reply, call=call) == "replied"
    await pump()
    assert pump.customer[-1]["text"] == "Ti spediamo subito un pacco nuovo"

    # The customer answers: relayed to the agents' group as a reply to the card.
    service.feed("c-42", CustomerText(text="Grazie! Quando arriva?"), via=CHAT)
    await pump()
    relayed = api.sent_messages(AGENTS)[-1]
    assert "Quando arriva?" in relayed["text"]
    assert relayed["reply_parameters"]["message_id"] == card_id

    # Resolve: the card shows it, the customer gets the closing Yes/No question.
    resolve = api.push_callback(
        AGENTS, card_id, _buttons(api.chat_messages(AGENTS)[0])["✅ Resolve"], user_id=AGENT
    )
    assert await handle_agent_update(app, resolve, call=call) == "resolved"
    await pump()
    assert "resolved by" in api.chat_messages(AGENTS)[0]["text"]
    closing = pump.customer[-1]
    assert [b["value"] for b in closing["rows"][0]] == ["solved:yes", "solved:no"]

    service.feed("c-42", ButtonPress(survey_id=None, value="solved:yes"), via=CHAT)
    [escalation] = _escalations(app)
    assert escalation.status == "resolved" and escalation.closing_answer == "yes"
    stats = recovery(app.db, escalation.opened_at, clock.advance(hours=1))
    assert (stats.resolved, stats.recovered, stats.rate) == (1, 1, 1.0)


async def test_not_solved_reopens_and_second_agent_cannot_steal(
    service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp
) -> None:
    """A "no" reopens the escalation; a second agent cannot take one that is taken."""
    app, listed, call, pump = desk_app
    config = replace(listed, agent_ids=frozenset({AGENT, 88}))  # a second listed agent
    detractor(service, clock)
    await pump()
    card_id = _escalations(app)[0].card_message_id
    assert card_id is not None
    take = _buttons(api.chat_messages(AGENTS)[0])["✋ Take"]
    assert (
        await handle_agent_update(
            app, api.push_callback(AGENTS, card_id, take, user_id=AGENT), call=call, config=config
        )
        == "taken"
    )
    steal = api.push_callback(AGENTS, card_id, take, user_id=88)
    assert await handle_agent_update(app, steal, call=call, config=config) == "conflict"
    assert (_escalations(app)[0].taken_by or "").endswith(f"({AGENT})")
    await pump()
    resolve = _buttons(api.chat_messages(AGENTS)[0])["✅ Resolve"]
    assert (
        await handle_agent_update(
            app, api.push_callback(AGENTS, card_id, resolve, user_id=88), call=call, config=config
        )
        == "resolved"
    )
    service.feed("c-42", ButtonPress(survey_id=None, value="solved:no"), via=CHAT)
    [escalation] = _escalations(app)
    assert escalation.status == "open" and escalation.closing_answer == "no"
    await pump()
    assert "not solved" in api.chat_messages(AGENTS)[0]["text"]


async def test_forum_topic_per_escalation(
    service: Service, clock: FakeClock, api: FakeBotAPI, client: Bot
) -> None:
    """In a forum group each escalation gets its own topic; agents write in it without replying."""
    from bot.channels.telegram.api import bot_call
    from tests.bot.escalations.conftest import Pump, make_app, make_settings

    api.add_chat(AGENTS, "supergroup", is_forum=True)
    settings = make_settings(api.url, agents_forum=True)
    app, config = make_app(service, settings)
    call = bot_call(client)
    pump = Pump(app, config, call)
    detractor(service, clock)
    await pump()
    [escalation] = _escalations(app)
    assert len(api.calls_of("createForumTopic")) == 1 and escalation.thread_id is not None
    assert api.sent_messages(AGENTS)[0]["message_thread_id"] == escalation.thread_id
    message = api.push_message(
        AGENTS,
        "Eccoci, ci pensiamo noi",
        user_id=AGENT,
        chat_type="supergroup",
        message_thread_id=escalation.thread_id,
    )
    assert await handle_agent_update(app, message, call=call) == "replied"
    await pump()
    assert pump.customer[-1]["text"] == "Eccoci, ci pensiamo noi"


async def test_agent_reply_and_its_inbox_mark_share_one_transaction(
    service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp
) -> None:
    """The writes passed as ``within`` commit with the relayed reply, or neither does."""
    app, _config, call, pump = desk_app
    detractor(service, clock)
    await pump()
    [escalation] = _escalations(app)
    marks: list[str] = []

    def failing_mark(_session: Session) -> None:
        raise RuntimeError("crash while marking the update done")

    first = api.push_message(
        AGENTS,
        "Prima risposta",
        user_id=AGENT,
        chat_type="supergroup",
        reply_to_message_id=escalation.card_message_id,
    )
    with pytest.raises(RuntimeError, match="crash while marking"):
        await handle_agent_update(app, first, call=call, within=failing_mark)
    await pump()
    assert all(m["text"] != "Prima risposta" for m in pump.customer)  # rolled back with the mark
    assert _escalations(app)[0].status == "open"

    again = api.push_message(
        AGENTS,
        "Prima risposta",
        user_id=AGENT,
        chat_type="supergroup",
        reply_to_message_id=escalation.card_message_id,
    )
    outcome = await handle_agent_update(app, again, call=call, within=lambda _session: marks.append("done"))
    await pump()
    assert outcome == "replied" and marks == ["done"]
    assert [m["text"] for m in pump.customer].count("Prima risposta") == 1
