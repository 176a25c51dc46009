"""The two Telegram channels' ``parse`` on the real update samples (tests/bot/channels/telegram_samples):
each update read once into the envelope its documented outcome needs, and routed at intake to
the inbox of the channel it belongs to (the customers' chats or the agents' group)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels import callbacks
from bot.channels.base import Edited, Envelope, Ignored, Media, Membership, Refused, Unparseable
from bot.channels.telegram.agents import TelegramAgents
from bot.channels.telegram.customers import FEEDABLE, TelegramCustomers
from bot.channels.telegram.updates import incoming
from bot.escalations.records import AGENTS_CHANNEL
from bot.escalations.telegram_desk import AgentMessage, AgentPress
from flows.conversation import ButtonPress, CustomerText, Started
from flows.scales import Lang
from tests.bot.channels.test_telegram_samples import load_samples

SECRET = b"s" * 32
CUSTOMERS = TelegramCustomers(SECRET)
SAMPLES = [
    dict(sample, update=dict(sample["update"], update_id=n)) for n, sample in enumerate(load_samples(), 1)
]


def _outcome(parsed: Envelope[Any] | Unparseable) -> str:
    """The documented outcome (the samples' ``expect``) the parsed envelope leads to."""
    if isinstance(parsed, Unparseable):
        return "skipped"
    event = parsed.inbound
    if isinstance(event, FEEDABLE):
        return "reply"
    if isinstance(event, Media):
        return f"media:{event.kind}"
    if isinstance(event, Edited):
        return "ignored:edited_message"  # no question is open in the replay: recorded as ignored
    if isinstance(event, Membership):
        return "blocked" if event.blocked else "unblocked"
    if isinstance(event, Refused):
        return "press_refused" if parsed.press_id else "refused"
    assert isinstance(event, Ignored)
    if event.kind.startswith("callback_query"):
        return "press_ignored" if parsed.press_id else "ignored"
    return f"ignored:{event.kind}"


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s['source']}:{s['name']}" for s in SAMPLES])
def test_each_sample_parses_once_into_its_documented_outcome(sample: dict[str, Any]) -> None:
    """Every real sample, parsed by the customers' channel, gives the envelope of its documented
    outcome; an envelope always names the chat it answers."""
    parsed = CUSTOMERS.parse(sample["update"])
    assert _outcome(parsed) == sample["expect"]
    if isinstance(parsed, Envelope):
        assert parsed.channel == "telegram" and parsed.address


def test_a_private_text_carries_what_the_service_needs() -> None:
    """A deep-link /start carries its token; a command its name; a caption is the words; the
    client's language is a hint; a signed press is a ``ButtonPress`` on its message."""
    chat = {"id": 42, "type": "private"}
    user = {"id": 42, "is_bot": False, "first_name": "A", "language_code": "it-IT"}

    def message(**fields: Any) -> dict[str, Any]:
        return {"update_id": 1, "message": {"message_id": 5, "date": 0, "chat": chat, "from": user, **fields}}

    start = CUSTOMERS.parse(message(text="/start tok_EN-1"))
    assert isinstance(start, Envelope) and start.inbound == Started(bound=False)
    assert (start.start_token, start.language_hint, start.address) == ("tok_EN-1", Lang.IT, "42")
    plain = CUSTOMERS.parse(message(text="/start"))
    assert isinstance(plain, Envelope) and plain.start_token is None
    caption = CUSTOMERS.parse(message(photo=[{"file_id": "p"}], caption="tutto rotto"))
    assert isinstance(caption, Envelope) and caption.inbound == CustomerText(text="tutto rotto")
    data = callbacks.sign(SECRET, "42", 7, "score:2")
    press = {
        "id": "q9",
        "from": user,
        "chat_instance": "c",
        "data": data,
        "message": {"message_id": 5, "chat": chat},
    }
    pressed = CUSTOMERS.parse({"update_id": 2, "callback_query": press})
    assert isinstance(pressed, Envelope) and pressed.inbound == ButtonPress(survey_id=7, value="score:2")
    assert (pressed.press_id, pressed.message_id) == ("q9", 5)


def test_the_agents_group_is_read_by_its_own_channel() -> None:
    """The supergroup samples, read as the agents' group: words and media are agents' messages
    (a forum topic's thread kept), commands and service messages are ignored; other chats' updates
    are not the agents' at all."""
    group = [s for s in SAMPLES if s["update"].get("message", {}).get("chat", {}).get("type") == "supergroup"]
    assert len(group) >= 5
    read: dict[str, Any] = {}
    for sample in group:
        update = sample["update"]
        agents = TelegramAgents(update["message"]["chat"]["id"])
        parsed = agents.parse(update)
        assert isinstance(parsed, Envelope) and parsed.channel == AGENTS_CHANNEL
        read[sample["name"]] = parsed.inbound
    topic = read["forum topic message in a supergroup"]
    assert isinstance(topic, AgentMessage) and (topic.text, topic.thread_id) == ("ciao", 290)
    sticker = read["sticker in a supergroup"]
    assert (
        isinstance(sticker, AgentMessage) and sticker.media == "sticker" and sticker.user.username == "Purya"
    )
    assert read["forum topic command replying to a story"] == Ignored("message:command")
    assert read["service message: pinned_message"] == Ignored("message:service")
    elsewhere = TelegramAgents(-1).parse(group[0]["update"])
    assert isinstance(elsewhere, Envelope) and isinstance(elsewhere.inbound, Ignored)


def test_an_agents_press_carries_its_data_and_who_pressed() -> None:
    """A press in the agents' group is an ``AgentPress`` with the presser; its query is answered."""
    agents = -100_5
    query = {
        "id": "q1",
        "from": {"id": 77, "is_bot": False, "first_name": "Bea", "username": "bea"},
        "chat_instance": "c",
        "data": "e:t:1:xyz",
        "message": {"message_id": 9, "date": 0, "chat": {"id": agents, "type": "supergroup"}},
    }
    parsed = TelegramAgents(agents).parse({"update_id": 3, "callback_query": query})
    assert isinstance(parsed, Envelope) and isinstance(parsed.inbound, AgentPress)
    assert (parsed.inbound.data, parsed.inbound.user.id, parsed.press_id) == ("e:t:1:xyz", 77, "q1")


def test_intake_routes_each_update_to_its_channels_inbox() -> None:
    """Stored at intake, an update of the agents' group goes to the agents' inbox, every other one
    (and every one when there is no agents' group) to the customers'; no update_id, no row."""
    topic = next(s for s in SAMPLES if s["name"] == "forum topic message in a supergroup")["update"]
    private = next(s for s in SAMPLES if s["expect"] == "reply")["update"]
    group = topic["message"]["chat"]["id"]
    routed = incoming(topic, agents_chat=group)
    assert routed is not None and (routed.channel, routed.chat_key) == (AGENTS_CHANNEL, str(group))
    customers = incoming(private, agents_chat=group)
    assert customers is not None and customers.channel == "telegram"
    alone = incoming(topic)
    assert alone is not None and alone.channel == "telegram"
    broken = next(s for s in SAMPLES if s["expect"] == "skipped")["update"]
    kept = incoming(broken, agents_chat=group)
    assert kept is not None and (kept.channel, kept.chat_key) == ("telegram", "-")
    assert incoming({"message": topic["message"]}, agents_chat=group) is None
