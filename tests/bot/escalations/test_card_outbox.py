"""The card is written with the escalation: a crash loses nothing and the card is sent once."""

from __future__ import annotations

from typing import TypeVar

import pytest
from aiogram import Bot
from sqlmodel import SQLModel, select

from bot.engine.apply import ApplyContext
from bot.engine.service import Service
from flows.conversation import Send
from storage.db import Database
from storage.tables import Escalation, OutboxMessage
from tests.bot.escalations.conftest import AGENTS, Pump, detractor, make_app, make_settings
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI

M = TypeVar("M", bound=SQLModel)


def _rows(db: Database, model: type[M]) -> list[M]:
    with db.read() as session:
        return list(session.exec(select(model)))


def test_card_is_in_the_same_transaction(service: Service, clock: FakeClock) -> None:
    """When anything fails after the escalation is applied, neither it nor its card is stored."""
    app, _ = make_app(service, make_settings())

    def crash(ctx: ApplyContext) -> None:
        raise RuntimeError("power cut")

    app.service.after_apply.append(crash)
    with pytest.raises(RuntimeError):
        detractor(service, clock)
    assert _rows(service.db, Escalation) == []
    assert not [m for m in _rows(service.db, OutboxMessage) if m.kind == "agent_card"]


async def test_card_sent_once_after_restart(
    service: Service, clock: FakeClock, api: FakeBotAPI, client: Bot
) -> None:
    """Escalation stored, process dies before sending: after restart the card goes out exactly once."""
    from bot.channels.telegram.api import bot_call

    settings = make_settings(api.url)
    make_app(service, settings)
    detractor(service, clock)  # stored with its card in the outbox; then the process "dies"
    assert len([m for m in _rows(service.db, OutboxMessage) if m.kind == "agent_card"]) == 1

    restarted = Service(service.db, service.journey, clock=clock)
    app, config = make_app(restarted, settings)
    pump = Pump(app, config, bot_call(client))
    # The first sender dies right after Telegram accepted the card, before recording it.
    await pump(crash_after_send=True)
    assert len(api.sent_messages(AGENTS)) == 1
    clock.advance(minutes=5)  # the lease expires; another worker takes the row over
    await pump()
    await pump()
    assert len(api.sent_messages(AGENTS)) == 1  # never a second card
    [escalation] = _rows(service.db, Escalation)
    assert escalation.card_message_id is not None
    assert all(m.status == "sent" for m in _rows(service.db, OutboxMessage) if m.address == str(AGENTS))


def test_new_bad_answers_join_the_open_escalation(service: Service, clock: FakeClock) -> None:
    """A second bad answer about the same order updates the one card (a new version), no new escalation."""
    from flows.conversation import CustomerText
    from tests.bot.escalations.conftest import CHAT

    make_app(service, make_settings())
    detractor(service, clock)
    service.feed("c-42", CustomerText(text="E il rimborso non è mai arrivato"), via=CHAT)
    escalations = _rows(service.db, Escalation)
    assert len(escalations) == 1 and escalations[0].card_version == 2
    cards = [m for m in _rows(service.db, OutboxMessage) if m.kind == "agent_card"]
    assert len(cards) == 2 and "rimborso" in cards[-1].payload["text"]


def test_talk_to_a_person_joins_the_order_escalation(service: Service, clock: FakeClock) -> None:
    """The detractor's "talk to a person" button joins the order's open escalation (no duplicate)."""
    from flows.conversation import ButtonPress
    from tests.bot.escalations.conftest import CHAT

    make_app(service, make_settings())
    survey_id = detractor(service, clock)
    result = service.feed("c-42", ButtonPress(survey_id=survey_id, value="skip"), via=CHAT)
    [thanks] = [a for a in result.actions if isinstance(a, Send) and a.rows]
    assert thanks.rows[0][0].value == "human"
    service.feed("c-42", ButtonPress(survey_id=survey_id, value="human"), via=CHAT)
    escalations = _rows(service.db, Escalation)
    assert len(escalations) == 1 and escalations[0].order_id == "1001"
