"""The agents' group as a channel of its own, end to end through the fake Bot API: its updates in
its own inbox, its cards in its own outbox channel; media during a handed-over escalation reaches
the agents' group as a copy, on the case, and an agent's media reply reaches the customer; the
card itself shows a customer who blocked the bot or could not be reached."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from bot.engine.wiring import App
from bot.escalations.records import AGENTS_CHANNEL
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from storage.tables import AgentActionRecord, InboxUpdate, OutboxMessage
from tests.bot.channels.test_telegram_kinds import _until
from tests.bot.escalations.test_telegram_agents_e2e import (
    AGENT,
    AGENTS,
    CHAT,
    _buttons,
    _escalation,
    _sent,
    open_detractor_case,
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


BLOCKED = "The customer blocked the bot"
FAILED = "The last message to the customer could not be delivered"


async def _card(app: App, api: FakeBotAPI, name: str) -> int:
    """A detractor answers: return the message id of the case's card in the agents' group."""
    card = await open_detractor_case(app, api, f"c-{name}")
    return int(card.result["message_id"])


def _card_text(api: FakeBotAPI, card_id: int) -> str:
    return str(next(m for m in api.chat_messages(AGENTS) if m["message_id"] == card_id)["text"])


def _photo(app: App, message_id: int, user_id: int, reply_to: int) -> dict[str, Any]:
    return {
        "message": {
            "message_id": message_id,
            "date": int(app.service.clock().timestamp()),
            "chat": {"id": AGENTS, "type": "supergroup", "title": "Agents"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Bea", "username": "bea"},
            "photo": [{"file_id": "AgAD-new-moka", "file_unique_id": "n1", "width": 90, "height": 67}],
            "caption": "this one is on its way",
            "reply_to_message": {
                "message_id": reply_to,
                "date": 0,
                "chat": {"id": AGENTS, "type": "supergroup"},
            },
        }
    }


async def test_agents_updates_and_cards_travel_on_the_agents_channel(served: tuple[App, FakeBotAPI]) -> None:
    """The agents' press is stored in the agents' inbox (the customer's in the customers'), and
    every card version is an outbox row of the agents' channel, delivered there."""
    app, api = served
    card_id = await _card(app, api, "route")
    press = api.push_callback(
        AGENTS, card_id, _buttons(api.sent_messages(AGENTS)[0])["✋ Take"], user_id=AGENT
    )
    await _sent(api, lambda p: p["chat_id"] == CHAT and "Someone from" in p["text"])
    with app.db.read() as session:
        inbox = {row.external_id: row for row in session.exec(select(InboxUpdate))}
        cards = session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == "agent_card")).all()
    assert inbox[str(press["update_id"])].channel == AGENTS_CHANNEL
    assert {row.channel for row in inbox.values() if row.chat_key == str(CHAT)} == {"telegram"}
    await _until(lambda: _escalation(app).status == "taken")
    assert len(cards) >= 2 and {c.channel for c in cards} == {AGENTS_CHANNEL}


async def test_an_agents_photo_reply_reaches_the_customer_once(served: tuple[App, FakeBotAPI]) -> None:
    """An agent replies to the card with a captioned photo: it is copied into the customer's chat
    (copyMessage from the agents' group) exactly once, the case becomes theirs and the reply is
    audited; the same photo from someone who is not an agent is refused and copies nothing."""
    app, api = served
    card_id = await _card(app, api, "media")
    api.push_update(_photo(app, 8101, 999, card_id))
    api.push_update(_photo(app, 8102, AGENT, card_id))
    (copy,) = await api.wait_for(lambda c: c.method == "copyMessage" and c.ok, timeout=5)
    assert (copy.params["chat_id"], copy.params["from_chat_id"], copy.params["message_id"]) == (
        CHAT,
        AGENTS,
        8102,
    )
    copied = next(m for m in api.chat_messages(CHAT) if m["message_id"] == copy.result["message_id"])
    assert copied["photo"][0]["file_id"] == "AgAD-new-moka" and copied["caption"] == "this one is on its way"
    await _until(lambda: _escalation(app).status == "taken")
    assert _escalation(app).taken_by == "@bea (4001)"
    with app.db.read() as session:
        actions = [(a.action, a.agent) for a in session.exec(select(AgentActionRecord))]
    assert ("reply", "@bea (4001)") in actions
    assert any(action == "refused" for action, _ in actions)
    await asyncio.sleep(0.3)  # nothing more is copied (the refused photo, a second delivery)
    assert len([c for c in api.calls_of("copyMessage") if c.ok]) == 1


async def test_the_card_shows_a_customer_who_blocked_the_bot(served: tuple[App, FakeBotAPI]) -> None:
    """The customer blocks the bot: the card itself is edited to say so (desk language, English
    here) besides the note; once they start the bot again, the mark goes."""
    app, api = served
    card_id = await _card(app, api, "block")
    member = {
        "chat": {"id": CHAT, "type": "private", "first_name": "Giulia"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Giulia"},
        "date": 0,
        "old_chat_member": {"user": {"id": 1, "is_bot": True, "first_name": "bot"}, "status": "member"},
        "new_chat_member": {"user": {"id": 1, "is_bot": True, "first_name": "bot"}, "status": "kicked"},
    }
    api.push_update({"my_chat_member": member})
    await _until(lambda: BLOCKED in _card_text(api, card_id))
    assert "bloccato" not in _card_text(api, card_id)
    await _sent(api, lambda p: p["chat_id"] == AGENTS and "blocked the bot" in p["text"])
    unblocked = dict(
        member, old_chat_member=member["new_chat_member"], new_chat_member=member["old_chat_member"]
    )
    api.push_update({"my_chat_member": unblocked})
    await _until(lambda: BLOCKED not in _card_text(api, card_id))


async def test_the_card_shows_a_customer_a_reply_could_not_reach(served: tuple[App, FakeBotAPI]) -> None:
    """Telegram refuses an agent's reply for good: the card is edited to say the last message to
    the customer could not be delivered (and the agent's next reply still goes)."""
    app, api = served
    card_id = await _card(app, api, "fail")
    api.push_callback(AGENTS, card_id, _buttons(api.sent_messages(AGENTS)[0])["✋ Take"], user_id=AGENT)
    await _sent(api, lambda p: p["chat_id"] == CHAT and "Someone from" in p["text"])
    api.fail_next("sendMessage", 400, description="Bad Request: message text is empty")
    api.push_message(
        AGENTS, "A new one leaves today", user_id=AGENT, chat_type="supergroup", reply_to_message_id=card_id
    )
    await _until(lambda: FAILED in _card_text(api, card_id))
    api.push_message(
        AGENTS, "Tracking: 123", user_id=AGENT, chat_type="supergroup", reply_to_message_id=card_id
    )
    await _sent(api, lambda p: p["chat_id"] == CHAT and p["text"] == "Tracking: 123")
    with app.db.read() as session:
        failed = session.exec(select(OutboxMessage).where(col(OutboxMessage.status) == "failed")).all()
    assert [m.address for m in failed] == [str(CHAT)]
