"""Media during a handed-over escalation reaches the agents' group as a copy, on the case."""

from __future__ import annotations

from datetime import timedelta

from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.wiring import App
from tests.escalations.test_telegram_agents_e2e import (
    AGENT,
    AGENTS,
    CHAT,
    _buttons,
    _escalation,
    _sent,
    served,
)
from tests.fakes.bot_api import FakeBotAPI

__all__ = ["served"]  # the fixture, imported for pytest


async def test_customer_media_is_copied_to_the_case_while_an_agent_has_it(
    served: tuple[App, FakeBotAPI],
) -> None:
    """A photo the customer sends after an agent took the case is copied (copyMessage) into the
    agents' group as a reply to the card, exactly once; the customer gets no "can't read" answer."""
    app, api = served
    now = app.service.clock()
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-media",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-m", "name": "Giulia", "language": "en", "telegram_chat_id": CHAT},
            "order": {"id": "o-m", "items": [{"name": "Moka"}]},
        }
    )
    api.add_chat(CHAT)
    ingest_event(app.db, app.journey, event, now)
    (question,) = await _sent(api, lambda p: p["chat_id"] == CHAT and "reply_markup" in p)
    api.push_callback(CHAT, question.result["message_id"], _buttons(question.params)["1"], language_code="en")
    (card,) = await _sent(api, lambda p: p["chat_id"] == AGENTS)
    api.push_callback(AGENTS, card.result["message_id"], _buttons(card.params)["✋ Take"], user_id=AGENT)
    await _sent(api, lambda p: p["chat_id"] == CHAT and "Someone from" in p["text"])
    assert _escalation(app).status == "taken"

    photo = {
        "message_id": 7001,
        "date": int(now.timestamp()),
        "chat": {"id": CHAT, "type": "private", "first_name": "Giulia"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Giulia", "language_code": "en"},
        "photo": [{"file_id": "AgAD-broken-box", "file_unique_id": "u1", "width": 90, "height": 67}],
    }
    api.push_update({"message": photo})
    (copy,) = await api.wait_for(lambda c: c.method == "copyMessage" and c.ok, timeout=5)
    assert (copy.params["chat_id"], copy.params["from_chat_id"], copy.params["message_id"]) == (
        AGENTS,
        CHAT,
        7001,
    )
    assert copy.params["reply_parameters"]["message_id"] == card.result["message_id"]
    copied = next(m for m in api.chat_messages(AGENTS) if m["message_id"] == copy.result["message_id"])
    assert copied["photo"][0]["file_id"] == "AgAD-broken-box"
    assert not [m for m in api.sent_messages(CHAT) if "only understand text" in m["text"]]
    assert len(api.calls_of("copyMessage")) == 1


async def test_agents_are_told_when_the_customer_blocked_the_bot(served: tuple[App, FakeBotAPI]) -> None:
    """The customer blocks the bot while an agent has the case: the agent's reply cannot be
    delivered, and the agents' group is told so on the case (a note replying to the card)."""
    app, api = served
    now = app.service.clock()
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-block",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-b", "name": "Giulia", "language": "en", "telegram_chat_id": CHAT},
            "order": {"id": "o-b", "items": [{"name": "Moka"}]},
        }
    )
    api.add_chat(CHAT)
    ingest_event(app.db, app.journey, event, now)
    (question,) = await _sent(api, lambda p: p["chat_id"] == CHAT and "reply_markup" in p)
    api.push_callback(CHAT, question.result["message_id"], _buttons(question.params)["1"], language_code="en")
    (card,) = await _sent(api, lambda p: p["chat_id"] == AGENTS)
    card_id = card.result["message_id"]
    api.push_callback(AGENTS, card_id, _buttons(card.params)["✋ Take"], user_id=AGENT)
    await _sent(api, lambda p: p["chat_id"] == CHAT and "Someone from" in p["text"])

    api.block_chat(CHAT)
    api.push_message(
        AGENTS, "A new one leaves today", user_id=AGENT, chat_type="supergroup", reply_to_message_id=card_id
    )
    (note,) = await _sent(api, lambda p: p["chat_id"] == AGENTS and "blocked the bot" in p["text"])
    assert "bloccato" not in note.params["text"]  # the desk reads one language (here English)
    assert note.params["reply_parameters"]["message_id"] == card_id
