"""A photo without a caption from a customer whose case is open but not yet taken joins that case:
copied to the agents' group as a reply to the card, noted on the card, acknowledged (it/en)."""

from __future__ import annotations

from bot.engine.wiring import App
from flows.conversation import (
    ConversationState,
    CustomerMedia,
    Engine,
    OpenEscalation,
    Send,
)
from flows.escalation import Priority
from flows.journey import Journey
from flows.scales import Lang
from tests.bot.escalations.test_telegram_agents_e2e import (
    AGENTS,
    CHAT,
    _escalation,
    _sent,
    open_detractor_case,
    served,
)
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI

__all__ = ["served"]  # the fixture, imported for pytest


def _photo(message_id: int, date: int, **extra: object) -> dict[str, object]:
    return {
        "message_id": message_id,
        "date": date,
        "chat": {"id": CHAT, "type": "private", "first_name": "Giulia"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Giulia", "language_code": "en"},
        **extra,
    }


async def test_uncaptioned_photo_joins_the_open_case_before_anyone_takes_it(
    served: tuple[App, FakeBotAPI],
) -> None:
    """The customer rates 1 (a case opens, nobody has it) then sends a photo with no caption: it
    is copied once into the agents' group replying to the card, the card is edited to note it,
    the customer hears it was attached (not "I only understand text"), and no second case opens."""
    app, api = served
    now = app.service.clock()
    card = await open_detractor_case(app, api, "c-p")
    assert _escalation(app).status == "open"

    photo = [{"file_id": "AgAD-dented-moka", "file_unique_id": "u2", "width": 90, "height": 67}]
    api.push_update({"message": _photo(7101, int(now.timestamp()), photo=photo)})
    (copy,) = await api.wait_for(lambda c: c.method == "copyMessage" and c.ok, timeout=5)
    assert (copy.params["chat_id"], copy.params["from_chat_id"], copy.params["message_id"]) == (
        AGENTS,
        CHAT,
        7101,
    )
    assert copy.params["reply_parameters"]["message_id"] == card.result["message_id"]
    copied = next(m for m in api.chat_messages(AGENTS) if m["message_id"] == copy.result["message_id"])
    assert copied["photo"][0]["file_id"] == "AgAD-dented-moka"
    (ack,) = await _sent(api, lambda p: p["chat_id"] == CHAT and "attached it to your case" in p["text"])
    assert ack.params["text"] == (
        "Thank you, I've attached it to your case: whoever is looking after it will see it straight away."
    )
    (edit,) = await api.wait_for(
        lambda c: c.method == "editMessageText" and c.ok and "📎" in c.params["text"], timeout=5
    )
    assert edit.params["message_id"] == card.result["message_id"]
    assert "📎 Sent: a photo (in the replies to this card)" in edit.params["text"]
    assert "📎:" not in edit.params["text"]
    escalation = _escalation(app)  # one case: .one() fails on a second
    assert (escalation.status, escalation.texts[-1]) == ("open", "📎:photo")
    assert not [m for m in api.sent_messages(CHAT) if "only understand text" in m["text"]]
    assert len(api.calls_of("copyMessage")) == 1


async def test_a_sticker_during_an_open_case_is_answered_as_before(served: tuple[App, FakeBotAPI]) -> None:
    """A sticker is not evidence: it gets the usual "I only understand text" answer, nothing is copied."""
    app, api = served
    now = app.service.clock()
    await open_detractor_case(app, api, "c-s")
    sticker = {
        "file_id": "CAAC-smile",
        "file_unique_id": "s1",
        "width": 512,
        "height": 512,
        "type": "regular",
    }
    api.push_update({"message": _photo(7102, int(now.timestamp()), sticker=sticker)})
    await _sent(api, lambda p: p["chat_id"] == CHAT and "only understand text" in p["text"])
    assert api.calls_of("copyMessage") == []
    assert "📎:sticker" not in _escalation(app).texts


def test_engine_attaches_media_only_to_an_open_case_nobody_holds(journey: Journey, clock: FakeClock) -> None:
    """With a case open and no agent: an attachment at the lowest priority (never raising the
    case) and the acknowledgement in Italian or English; without a case or with an agent holding
    it, nothing (the channel answers or copies it)."""
    engine = Engine(journey)
    for lang, text in (
        (Lang.IT, "Grazie, l'ho allegato alla tua segnalazione: chi la segue lo vedrà subito."),
        (
            Lang.EN,
            "Thank you, I've attached it to your case: whoever is looking after it will see it "
            "straight away.",
        ),
    ):
        state = ConversationState(language=lang, case_open=True)
        after, actions = engine.step(state, CustomerMedia(media="photo"), clock.now)
        attach, ack = actions
        assert isinstance(attach, OpenEscalation) and isinstance(ack, Send)
        assert (attach.media, attach.priority, attach.survey_id, attach.text) == (
            "photo",
            Priority.P2,
            None,
            None,
        )
        assert ack.text == text and after == state
    assert engine.step(ConversationState(language=Lang.IT), CustomerMedia(media="photo"), clock.now)[1] == []
    held = ConversationState(language=Lang.IT, case_open=True, handoff=3)
    assert engine.step(held, CustomerMedia(media="photo"), clock.now)[1] == []
