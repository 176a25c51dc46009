"""Proactive surveys on Rasa channels: outbox rows become trigger_intent calls to a fake Rasa server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlmodel import select

import tests.bot.channels.test_rasa_actions as rasa_actions
from bot.channels.rasa.delivery import rasa_sender
from bot.channels.rasa.server import create_action_server
from bot.engine.apply import Address
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.infra.settings import Settings
from flows.conversation import Command, CommandName
from flows.errors import ConfigError
from flows.journey import Journey
from storage.db import Database
from storage.tables import OutboxMessage

SENDER = "whatsapp:+393331234567"


class FakeRasa:
    """A Rasa HTTP API on 127.0.0.1 that records trigger_intent calls and answers scripted statuses."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.on_trigger: Callable[[dict[str, Any]], Awaitable[list[dict[str, Any]]]] | None = None
        self.messages: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _trigger(self, request: web.Request) -> web.Response:
        call = {
            "conversation": request.match_info["conversation"],
            "query": dict(request.query),
            "body": await request.json(),
        }
        self.calls.append(call)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200 and self.on_trigger is not None:
            # Like Rasa: run the rule's actions on the action server, send their responses.
            self.messages += await self.on_trigger(call)
        return web.json_response({"tracker": {}, "messages": self.messages}, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/conversations/{conversation}/trigger_intent", self._trigger)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def rasa() -> AsyncIterator[FakeRasa]:
    """Yield a running fake Rasa server."""
    server = FakeRasa()
    await server.start()
    yield server
    await server.close()


def make_app(db: Database, journey: Journey, clock: Any, url: str | None) -> App:
    """Return the app pointing at the (fake) Rasa server."""
    settings = Settings(
        database_url="sqlite://", rasa_url=url, rasa_token=SecretStr("s3cret"), _env_file=None
    )
    return App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=clock))


async def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll ``condition`` until true or fail after ``limit`` seconds."""
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def statuses(cx: App) -> list[tuple[str, int]]:
    """Return (status, attempts) of every outbox row."""
    with cx.db.read() as session:
        return [(m.status, m.attempts) for m in session.exec(select(OutboxMessage)).all()]


async def test_trigger_intent_retries_5xx_then_succeeds(
    db: Database, journey: Journey, clock: Any, rasa: FakeRasa
) -> None:
    """A 503 is retried after the backoff; the second call succeeds and the message is marked sent."""
    cx = make_app(db, journey, clock, rasa.url)
    cx.service.feed("c-42", Command(name=CommandName.HELP), via=Address("rasa", SENDER))
    rasa.statuses = [503]
    stop = asyncio.Event()
    task = asyncio.create_task(rasa_sender(cx, interval=0.02)(stop))
    try:
        await wait_until(lambda: len(rasa.calls) == 1 and statuses(cx) == [("pending", 1)])
        await asyncio.sleep(0.1)
        assert len(rasa.calls) == 1  # not before the backoff has passed
        clock.advance(seconds=6)
        await wait_until(lambda: statuses(cx) == [("sent", 2)])
    finally:
        stop.set()
        await task
    assert len(rasa.calls) == 2
    call = rasa.calls[-1]
    assert call["conversation"] == SENDER
    assert call["query"] == {"output_channel": "latest", "token": "s3cret"}
    assert call["body"]["name"] == "cxbot_survey_due"
    with cx.db.read() as session:
        (message,) = session.exec(select(OutboxMessage)).all()
    assert call["body"]["entities"] == {"cxbot_message_id": str(message.id)}


async def test_trigger_intent_4xx_fails_for_good(
    db: Database, journey: Journey, clock: Any, rasa: FakeRasa
) -> None:
    """A 404 (unknown conversation / bad token) fails the message at once, without retries."""
    cx = make_app(db, journey, clock, rasa.url)
    cx.service.feed("c-42", Command(name=CommandName.HELP), via=Address("rasa", SENDER))
    rasa.statuses = [404]
    stop = asyncio.Event()
    task = asyncio.create_task(rasa_sender(cx, interval=0.02)(stop))
    try:
        await wait_until(lambda: statuses(cx) == [("failed", 1)])
        clock.advance(minutes=30)
        await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
    assert len(rasa.calls) == 1


async def test_network_error_is_retried(sqlite_db: Database, journey: Journey, clock: Any) -> None:
    """When Rasa is unreachable the message stays pending with a later retry time."""
    cx = make_app(sqlite_db, journey, clock, "http://127.0.0.1:9")  # discard port: connection refused
    cx.service.feed("c-42", Command(name=CommandName.HELP), via=Address("rasa", SENDER))
    stop = asyncio.Event()
    task = asyncio.create_task(rasa_sender(cx, interval=0.02)(stop))
    try:
        await wait_until(lambda: statuses(cx) == [("pending", 1)])
    finally:
        stop.set()
        await task
    with cx.db.read() as session:
        (message,) = session.exec(select(OutboxMessage)).all()
    assert message.not_before.replace(tzinfo=None) >= (clock.now + timedelta(seconds=5)).replace(tzinfo=None)
    assert message.error == "network: ConnectError"


def test_sender_needs_a_rasa_url(sqlite_db: Database, journey: Journey, clock: Any) -> None:
    """Without CXBOT_RASA_URL the component refuses to start with a clear configuration error."""
    with pytest.raises(ConfigError, match="CXBOT_RASA_URL"):
        rasa_sender(make_app(sqlite_db, journey, clock, None))


async def test_proactive_survey_round_trip_through_rasa(
    sqlite_db: Database, journey: Journey, clock: Any, rasa: FakeRasa
) -> None:
    """A due survey goes out as trigger_intent; Rasa's form asks it via the action server, once."""
    cx = make_app(sqlite_db, journey, clock, rasa.url)
    survey_id, message_id = rasa_actions.due_delivery_survey(cx, clock)
    async with rasa_actions.asgi_client(create_action_server(cx)) as actions:

        async def run_form(call: dict[str, Any]) -> list[dict[str, Any]]:
            entities = call["body"]["entities"]
            body = rasa_actions.load(
                "ask_score", message_id=entities["cxbot_message_id"], survey_id=entities["cxbot_survey_id"]
            )
            reply = await actions.post("/webhook", json=body)
            assert reply.status_code == 200
            responses: list[dict[str, Any]] = reply.json()["responses"]
            return responses

        rasa.on_trigger = run_form
        stop = asyncio.Event()
        task = asyncio.create_task(rasa_sender(cx, interval=0.02)(stop))
        try:
            await wait_until(lambda: statuses(cx) == [("sent", 1)])
        finally:
            stop.set()
            await task
    assert rasa.calls[0]["body"]["entities"] == {
        "cxbot_message_id": str(message_id),
        "cxbot_survey_id": str(survey_id),
    }
    (question,) = rasa.messages
    assert "consegna" in question["text"] and len(question["buttons"]) == 5
