"""Fixtures of the escalation tests: an app with an agents' group, a fake Bot API, an outbox pump."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiogram import Bot
from sqlmodel import col, select

from bot.channels.telegram.api import bot_call, make_bot
from bot.delivery.limited_calls import BotCall
from bot.engine.apply import Address
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.engine.wiring import App
from bot.escalations import hooks
from bot.escalations.records import AGENTS_CHANNEL, CARD_KIND, DeskConfig
from bot.escalations.telegram_desk import deliver_agent_message
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.settings import Settings
from flows.conversation import ButtonPress
from storage.claims import claim_outbox, finish_messages
from storage.tables import SurveyInstance
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI

AGENTS = -1001234
AGENT = 77
CHAT = Address("telegram", "4242")


def make_settings(api_url: str = "http://127.0.0.1:9", **extra: Any) -> Settings:
    """Return settings with an agents' group and one listed agent (no .env, no environment)."""
    values: dict[str, Any] = {
        "telegram_token": "123:TEST",
        "telegram_api_url": api_url,
        "agents_chat_id": AGENTS,
        "agent_ids": [AGENT],
        "link_secret": "s3cret",
        "desk_language": "en",
        **extra,
    }
    return Settings(_env_file=None, **values)


def make_app(service: Service, settings: Settings) -> tuple[App, DeskConfig]:
    """Return the app on ``service`` with the card hook installed."""
    app = App(settings=settings, db=service.db, journey=service.journey, service=service)
    return app, hooks.install(app)


def detractor(service: Service, clock: FakeClock, score: str = "score:1") -> int:
    """Ask the delivery CSAT of order 1001 to customer c-42 and answer ``score``; return the survey id."""
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-1",
            "type": "order.delivered",
            "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-42", "name": "Giulia", "language": "it", "telegram_chat_id": 4242},
            "order": {"id": "1001", "items": [{"name": "Moka 6 tazze"}]},
        }
    )
    ingest_event(service.db, service.journey, event, clock.now)
    run_due_work(service, clock.now)
    with service.db.read() as session:
        survey = session.exec(select(SurveyInstance).where(col(SurveyInstance.stage) == "delivered")).one()
    assert survey.id is not None
    service.feed("c-42", ButtonPress(survey_id=survey.id, value=score), via=CHAT)
    return survey.id


class Pump:
    """Delivers the telegram outboxes: the agents' channel's rows through the desk, customers' into
    ``customer``."""

    def __init__(self, app: App, config: DeskConfig, call: BotCall) -> None:
        self.app, self.config, self.call = app, config, call
        self.customer: list[dict[str, Any]] = []

    async def __call__(self, now: datetime | None = None, *, crash_after_send: bool = False) -> int:
        now = now or self.app.service.clock()
        done = 0
        while batch := claim_outbox(self.app.db, "test", now, channels=("telegram", AGENTS_CHANNEL)):
            for message in batch:
                if message.channel == AGENTS_CHANNEL:
                    await deliver_agent_message(self.app, self.config, self.call, message)
                else:
                    self.customer.append(dict(message.payload))
                if crash_after_send and message.kind == CARD_KIND:
                    return done + 1  # the worker dies after sending the card, before recording it
                finish_messages(self.app.db, [message.id], now)
                done += 1
        return done


#: The ``desk_app`` fixture: the app, its desk configuration, the Bot API call and the outbox pump.
DeskApp = tuple[App, DeskConfig, BotCall, Pump]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """Yield a running fake Bot API on 127.0.0.1."""
    async with FakeBotAPI(validate_markup=True) as fake:
        yield fake


@pytest.fixture
async def client(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """Yield cxbot's Bot API client (aiogram's, as the channel makes it) on the fake Bot API."""
    bot = make_bot("123:TEST", api.url)  # make_settings' token
    yield bot
    await bot.session.close()


@pytest.fixture
def desk_app(service: Service, api: FakeBotAPI, client: Bot) -> DeskApp:
    """Return (app, config, call, pump) wired to the fake Bot API."""
    settings = make_settings(api.url)
    app, config = make_app(service, settings)
    call = bot_call(client)
    return app, config, call, Pump(app, config, call)
