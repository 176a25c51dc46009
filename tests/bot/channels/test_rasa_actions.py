"""The Rasa action server: real Rasa 3 request bodies posted to /webhook over ASGI."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic
from sqlmodel import col, select

from bot.channels.rasa.server import create_action_server
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.engine.wiring import App
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.settings import Settings
from flows.conversation import Command, CommandName
from flows.conversation.render import fill
from flows.journey import Journey
from flows.scales import Lang
from storage import repo
from storage.claims import finish_messages
from storage.db import Database
from storage.tables import Customer, Escalation, OutboxMessage, Response, SurveyInstance

REQUESTS = Path(__file__).parent / "rasa_requests"
SENDER = "whatsapp:+393331234567"
CUSTOMER = "c-42"


@asynccontextmanager
async def asgi_client(server: Sanic[Any, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """Yield an httpx client calling the Sanic app over ASGI, with its lifespan started and stopped."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    lifespan = asyncio.create_task(server(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url="http://rasa-actions") as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


def load(name: str, **values: object) -> dict[str, Any]:
    """Return a request fixture with its __PLACEHOLDERS__ filled in."""
    text = (REQUESTS / f"{name}.json").read_text()
    for key, value in values.items():
        text = text.replace(f"__{key.upper()}__", str(value))
    body: dict[str, Any] = json.loads(text)
    return body


@pytest.fixture
def cx(sqlite_db: Database, journey: Journey, clock: Any) -> App:
    """Return the app on SQLite with the test clock."""
    settings = Settings(database_url="sqlite://", _env_file=None)  # the database is passed in
    return App(
        settings=settings, db=sqlite_db, journey=journey, service=Service(sqlite_db, journey, clock=clock)
    )


def due_delivery_survey(cx: App, clock: Any, *, sender: str = SENDER) -> tuple[int, int]:
    """Bind the Rasa sender to the customer, make the delivery CSAT due; return (survey id, outbox id)."""
    now = clock.now
    with cx.db.write() as session:
        repo.ensure_customer(session, CUSTOMER, now, language="it")
        repo.bind_identity(session, CUSTOMER, "rasa", sender, now)
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-1001-delivered",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "customer": {"id": CUSTOMER, "language": "it"},
            "order": {"id": "1001", "items": [{"name": "Moka 6 tazze"}]},
        }
    )
    ingest_event(cx.db, cx.journey, event, now, quiet=None)
    assert run_due_work(cx.service, now) == {"fed": 1}
    with cx.db.read() as session:
        survey = session.exec(select(SurveyInstance).where(col(SurveyInstance.stage) == "delivered")).one()
        message = session.exec(select(OutboxMessage).where(col(OutboxMessage.channel) == "rasa")).one()
    assert survey.id is not None and message.id is not None
    return survey.id, message.id


def mark_delivered(cx: App) -> None:
    """Mark every queued Rasa message sent, as the proactive sender would after its trigger."""
    with cx.db.read() as session:
        ids = [m.id for m in session.exec(select(OutboxMessage)).all() if m.id is not None]
    finish_messages(cx.db, ids, cx.service.clock())


def events_named(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Return {slot: value} of the SlotSet events in a webhook answer (``name`` = "slot")."""
    return {e["name"]: e["value"] for e in events if e["event"] == name}


async def test_health_and_action_list(cx: App) -> None:
    """/health answers ok and /actions lists every cxbot action, as rasa-sdk's endpoint does."""
    async with asgi_client(create_action_server(cx)) as client:
        health = await client.get("/health")
        listed = await client.get("/actions")
    assert health.json() == {"status": "ok"}
    names = {a["name"] for a in listed.json()}
    assert {
        "action_cxbot_ask",
        "action_ask_cxbot_score",
        "action_ask_cxbot_comment",
        "validate_cxbot_survey_form",
        "action_cxbot_submit",
        "action_cxbot_opt_out",
        "action_cxbot_answer",
    } <= names


async def test_survey_form_end_to_end_stores_and_escalates(cx: App, clock: Any) -> None:
    """A Rasa customer answers 2/5 with a complaint: asked, validated, stored and escalated via the engine."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    ids = {"survey_id": survey_id, "message_id": message_id}
    async with asgi_client(create_action_server(cx)) as client:
        activation = await client.post("/webhook", json=load("validate_on_activation", **ids))
        assert activation.status_code == 200
        assert activation.json()["responses"] == []

        asked = (await client.post("/webhook", json=load("ask_score", **ids))).json()
        (question,) = asked["responses"]
        assert "consegna" in question["text"]
        assert [b["title"] for b in question["buttons"]] == ["1", "2", "3", "4", "5"]
        assert question["buttons"][1]["payload"] == (
            f'/cxbot_answer{{"value":"score:2","cxbot_survey_id":"{survey_id}"}}'
        )
        assert events_named(asked["events"], "slot") == {"cxbot_customer_id": CUSTOMER}

        pressed = (await client.post("/webhook", json=load("validate_score_button", **ids))).json()
        assert events_named(pressed["events"], "slot")["cxbot_score"] == 2

        commented = (await client.post("/webhook", json=load("validate_comment_text", **ids))).json()
        comment = "il pacco è arrivato rotto e nessuno risponde alle mail"
        assert events_named(commented["events"], "slot")["cxbot_comment"] == comment

        submitted = (await client.post("/webhook", json=load("submit", **ids))).json()
    texts = [r["text"] for r in submitted["responses"]]
    assert texts == [fill(cx.journey, cx.journey.messages.thanks_negative, Lang.IT)]
    assert events_named(submitted["events"], "slot") == {"cxbot_score": None, "cxbot_comment": None}
    with cx.db.read() as session:
        response = session.exec(select(Response)).one()
        escalation = session.exec(select(Escalation)).one()
        outbox = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    assert (response.score, response.channel, response.comment) == (2, "rasa", comment)
    assert escalation.survey_id == survey_id and escalation.score == 2
    # Everything was answered inline: nothing left for the proactive sender to push again.
    assert {m.status for m in outbox} == {"sent"}


async def test_unclear_score_is_reasked_in_italian(cx: App, clock: Any) -> None:
    """An unclear reply leaves the score slot empty and re-asks with the journey's Italian wording."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    mark_delivered(cx)
    async with asgi_client(create_action_server(cx)) as client:
        reply = await client.post(
            "/webhook", json=load("validate_score_unclear", survey_id=survey_id, message_id=message_id)
        )
    body = reply.json()
    assert events_named(body["events"], "slot")["cxbot_score"] is None
    (reask,) = body["responses"]
    assert reask["text"].startswith(cx.journey.messages.reask.it.strip().split("\n")[0][:20])
    assert len(reask["buttons"]) == 5
    state = cx.service.state_of(CUSTOMER)
    assert state is not None and state.active is not None and state.active.reasks == 1


async def test_english_customer_gets_english_reask(cx: App, clock: Any) -> None:
    """The same unclear reply from an English-speaking customer is re-asked in English."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    cx.service.feed(CUSTOMER, Command(name=CommandName.LANGUAGE, argument="en"))
    mark_delivered(cx)
    body = load("validate_score_unclear", survey_id=survey_id, message_id=message_id)
    async with asgi_client(create_action_server(cx)) as client:
        reply = (await client.post("/webhook", json=body)).json()
    assert reply["responses"][0]["text"].startswith(cx.journey.messages.reask.en.strip()[:20])


async def test_opt_out_action_stops_surveys(cx: App, clock: Any) -> None:
    """The opt-out action marks the customer opted out, skips the open survey and closes the form."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    mark_delivered(cx)
    async with asgi_client(create_action_server(cx)) as client:
        reply = (
            await client.post("/webhook", json=load("opt_out", survey_id=survey_id, message_id=message_id))
        ).json()
    assert {"event": "active_loop", "timestamp": None, "name": None} in reply["events"]
    assert [r["text"] for r in reply["responses"]] == [
        fill(cx.journey, cx.journey.messages.opted_out, Lang.IT)
    ]
    with cx.db.read() as session:
        customer = session.get(Customer, CUSTOMER)
        survey = session.get(SurveyInstance, survey_id)
    assert customer is not None and customer.opted_out
    assert survey is not None and survey.status == "skipped"


async def test_request_without_domain_gets_449_then_digest_works(cx: App, clock: Any) -> None:
    """Without a domain (and no known digest) the server answers 449 as rasa-sdk specifies; after a
    request carrying domain and digest, the same digest alone is enough."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    ids = {"survey_id": survey_id, "message_id": message_id}
    async with asgi_client(create_action_server(cx)) as client:
        missing = await client.post("/webhook", json=load("no_domain", **ids))
        with_domain = load("ask_score", **ids) | {"domain_digest": "d1g3st"}
        first = await client.post("/webhook", json=with_domain)
        digest_only = load("no_domain", **ids) | {"domain_digest": "d1g3st"}
        second = await client.post("/webhook", json=digest_only)
    assert missing.status_code == 449
    assert missing.json()["action_name"] == "action_ask_cxbot_score"
    assert first.status_code == 200 and second.status_code == 200


async def test_unknown_action_is_404_and_garbage_is_400(cx: App) -> None:
    """An action cxbot does not serve gets 404; a body that is not an action call gets 400."""
    body = load("ask_score", survey_id=1, message_id=1) | {"next_action": "action_order_pizza"}
    async with asgi_client(create_action_server(cx)) as client:
        unknown = await client.post("/webhook", json=body)
        garbage = await client.post(
            "/webhook", content=b"\x00not json", headers={"Content-Type": "application/json"}
        )
    assert unknown.status_code == 404
    assert unknown.json()["action_name"] == "action_order_pizza"
    assert garbage.status_code == 400


async def test_deflate_encoded_request(cx: App, clock: Any) -> None:
    """A deflate-compressed body (Rasa's compressed action calls) is inflated and served."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    raw = json.dumps(load("ask_score", survey_id=survey_id, message_id=message_id)).encode()
    async with asgi_client(create_action_server(cx)) as client:
        reply = await client.post(
            "/webhook",
            content=zlib.compress(raw),
            headers={"Content-Type": "application/json", "Content-Encoding": "deflate"},
        )
    assert reply.status_code == 200
    assert reply.json()["responses"][0]["buttons"]


async def test_forged_message_id_of_another_chat_is_not_disclosed(cx: App, clock: Any) -> None:
    """A sender cannot read another chat's queued message by forging the cxbot_message_id entity."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    body = load("ask_score", survey_id=survey_id, message_id=message_id)
    body["sender_id"] = body["tracker"]["sender_id"] = "whatsapp:+390000000000"
    async with asgi_client(create_action_server(cx)) as client:
        reply = (await client.post("/webhook", json=body)).json()
    assert reply["responses"] == []
    with cx.db.read() as session:
        message = session.get(OutboxMessage, message_id)
    assert message is not None and message.status == "pending"


async def test_typed_score_with_reason_fills_both_slots(cx: App, clock: Any) -> None:
    """ "2, il pacco era rotto" typed to the score question fills the score and the comment at once."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    mark_delivered(cx)
    body = load("validate_score_unclear", survey_id=survey_id, message_id=message_id)
    body["tracker"]["latest_message"]["text"] = "2, il pacco era rotto"
    body["tracker"]["slots"]["cxbot_score"] = "2, il pacco era rotto"
    body["tracker"]["events"][-1]["value"] = "2, il pacco era rotto"
    async with asgi_client(create_action_server(cx)) as client:
        reply = (await client.post("/webhook", json=body)).json()
    slots = events_named(reply["events"], "slot")
    assert slots["cxbot_score"] == 2
    assert slots["cxbot_comment"] == "il pacco era rotto"
    assert reply["responses"] == []


async def test_feedback_with_nothing_pending(cx: App, clock: Any) -> None:
    """Asking to leave feedback with no open survey ends the form and says there is nothing to answer."""
    with cx.db.write() as session:
        repo.ensure_customer(session, CUSTOMER, clock.now, language="en")
        repo.bind_identity(session, CUSTOMER, "rasa", SENDER, clock.now)
    empty = {"survey_id": 0, "message_id": 0}
    submit = load("submit", **empty)
    submit["tracker"]["slots"].update(cxbot_score=None, cxbot_comment=None)
    async with asgi_client(create_action_server(cx)) as client:
        activation = (await client.post("/webhook", json=load("validate_on_activation", **empty))).json()
        submitted = (await client.post("/webhook", json=submit)).json()
    assert {"event": "slot", "timestamp": None, "name": "requested_slot", "value": None} in activation[
        "events"
    ]
    texts = [r["text"] for r in submitted["responses"]]
    assert texts == [fill(cx.journey, cx.journey.messages.nothing_pending, Lang.EN)]


async def test_language_button_outside_the_form(cx: App, clock: Any) -> None:
    """A cxbot button pressed outside the form (language: English) is handled by the engine."""
    survey_id, message_id = due_delivery_survey(cx, clock)
    mark_delivered(cx)
    body = load("validate_score_button", survey_id=survey_id, message_id=message_id)
    body["next_action"] = "action_cxbot_answer"
    body["tracker"]["active_loop"] = {}
    body["tracker"]["latest_message"]["entities"] = [{"entity": "value", "value": "lang:en"}]
    async with asgi_client(create_action_server(cx)) as client:
        reply = (await client.post("/webhook", json=body)).json()
    texts = [r["text"] for r in reply["responses"]]
    assert texts[0] == fill(cx.journey, cx.journey.messages.language_set, Lang.EN)
    assert "delivery" in texts[1]  # the open question again, now in English
    with cx.db.read() as session:
        customer = session.get(Customer, CUSTOMER)
    assert customer is not None and customer.language == "en"
