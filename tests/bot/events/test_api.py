"""POST /v1/events: signature, size limit, validation errors naming the field, idempotency."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlmodel import SQLModel, func, select

from bot.api.app import create_api
from bot.api.events import MAX_BODY_BYTES, sign
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.infra.settings import Settings
from flows.journey import Journey
from storage.db import Database
from storage.tables import BusinessEvent, DueWork, LinkToken, SurveyInstance
from tests.clocks import FakeClock

SECRET = "s3cret-for-tests"
TS = int(datetime(2026, 11, 17, 10, 0, tzinfo=UTC).timestamp())  # the `clock` fixture's start


def _client(
    db: Database, journey: Journey, clock: FakeClock, secret: str | None = SECRET
) -> httpx.AsyncClient:
    settings = Settings(
        database_url=db.url, events_secret=secret, telegram_bot_username="moka_bot", quiet_hours="default"
    )
    app = App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=clock))
    transport = httpx.ASGITransport(app=create_api(app))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _event(clock: FakeClock, event_id: str = "evt-1", **customer: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "order.delivered",
        "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
        "customer": {"id": "c-42", "name": "Giulia", "language": "it", "timezone": "Europe/Rome", **customer},
        "order": {"id": "1001", "items": [{"name": "Moka 6 tazze"}]},
    }


async def _post(
    client: httpx.AsyncClient, payload: dict[str, Any] | bytes, signature: str | None = "auto", **kw: Any
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "auto":
        headers["X-Cxbot-Signature"] = sign(SECRET, body, TS)
    elif signature is not None:
        headers["X-Cxbot-Signature"] = signature
    return await client.post("/v1/events", content=body, headers=headers, **kw)


def _count(db: Database, model: type[SQLModel]) -> int:
    with db.read() as session:
        return session.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def client(sqlite_db: Database, journey: Journey, clock: FakeClock) -> httpx.AsyncClient:
    """Return a client of the API on SQLite with the events secret set."""
    return _client(sqlite_db, journey, clock)


async def test_signed_event_is_accepted_with_schedule_and_deep_link(
    client: AsyncClient, sqlite_db: Database, clock: FakeClock
) -> None:
    """A signed event is stored, its surveys are listed, and an unreachable customer gets a deep link."""
    answer = await _post(client, _event(clock))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "accepted"
    assert sorted(s["stage"] for s in body["scheduled"]) == ["delivered", "first_use"]
    with sqlite_db.read() as session:
        token = session.exec(select(LinkToken)).one().token
    assert body["deep_link"] == f"https://t.me/moka_bot?start={token}"


async def test_known_chat_gets_no_deep_link(client: AsyncClient, clock: FakeClock) -> None:
    """When the event names the customer's Telegram chat, no deep link is needed."""
    body = (await _post(client, _event(clock, telegram_chat_id=4242))).json()
    assert body["status"] == "accepted" and body["deep_link"] is None


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "md5=abc", "sha256="])
async def test_missing_or_wrong_signature_is_401(
    client: AsyncClient, sqlite_db: Database, clock: FakeClock, signature: str | None
) -> None:
    """A missing, malformed or wrong signature is refused with 401 and nothing is written."""
    answer = await _post(client, _event(clock), signature=signature)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert _count(sqlite_db, BusinessEvent) == 0


async def test_signature_of_another_body_is_401(client: AsyncClient, clock: FakeClock) -> None:
    """A signature made for a different body does not authenticate this one."""
    other = json.dumps(_event(clock, event_id="evt-2")).encode()
    assert (await _post(client, _event(clock), signature=sign(SECRET, other, TS))).status_code == 401


async def test_no_secret_configured_refuses_everything(
    sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """Without CXBOT_EVENTS_SECRET even a 'signed' event is refused (503) with a clear message."""
    client = _client(sqlite_db, journey, clock, secret=None)
    answer = await _post(client, _event(clock))
    assert answer.status_code == 503
    assert "CXBOT_EVENTS_SECRET" in answer.json()["message"]
    assert _count(sqlite_db, BusinessEvent) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["customer"].update(language="fr"), "customer.language"),
        (lambda e: e["customer"].update(timezone="Mars/Olympus"), "customer.timezone"),
        (lambda e: e.update(type="order.teleported"), "type"),
        (lambda e: e.update(occurred_at="2026-11-20T10:00:00"), "occurred_at"),
        (lambda e: e.pop("order"), "order"),
        (lambda e: e["order"].update(items=[{"category": "x"}]), "order.items[0].name"),
        (lambda e: e.pop("customer"), "customer"),
    ],
)
async def test_malformed_event_is_422_naming_the_field(
    client: AsyncClient,
    sqlite_db: Database,
    clock: FakeClock,
    change: Callable[[dict[str, Any]], object],
    field: str,
) -> None:
    """An invalid event is refused with 422 and the JSON names the offending field."""
    event = _event(clock)
    change(event)
    answer = await _post(client, event)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert _count(sqlite_db, BusinessEvent) == 0


async def test_not_json_is_422(client: AsyncClient) -> None:
    """A signed body that is not JSON is a 422 about the body."""
    answer = await _post(client, b"{not json")
    assert answer.status_code == 422 and answer.json()["field"] == "body"


async def test_oversized_body_is_413_before_checking(
    client: AsyncClient, sqlite_db: Database, clock: FakeClock
) -> None:
    """A body over 64 KiB is refused with 413, even correctly signed."""
    event = _event(clock)
    event["padding"] = "x" * MAX_BODY_BYTES
    assert (await _post(client, event)).status_code == 413
    assert _count(sqlite_db, BusinessEvent) == 0


async def test_oversized_chunked_body_is_413(client: AsyncClient, clock: FakeClock) -> None:
    """A chunked body (no Content-Length) is bounded too."""
    chunk = b" " * 8192

    async def body() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    answer = await client.post(
        "/v1/events", content=body(), headers={"X-Cxbot-Signature": "sha256=" + "0" * 64}
    )
    assert answer.status_code == 413


async def test_duplicate_event_makes_one_record(db: Database, journey: Journey, clock: FakeClock) -> None:
    """Sending the same event twice answers 'duplicate' and stores one event, one set of surveys."""
    client = _client(db, journey, clock)
    first = (await _post(client, _event(clock))).json()
    second = (await _post(client, _event(clock))).json()
    assert first["status"] == "accepted" and second["status"] == "duplicate"
    assert second["scheduled"] == []
    assert first["deep_link"] and second["deep_link"] is None  # a replay never mints or hands out a link
    assert _count(db, BusinessEvent) == 1
    assert _count(db, SurveyInstance) == 2
    assert _count(db, DueWork) == 2


async def test_openapi_documents_the_endpoint_with_examples(client: AsyncClient) -> None:
    """The OpenAPI document shows the request schema, examples, the signature header and the errors."""
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/events"]["post"]
    content = operation["requestBody"]["content"]["application/json"]
    assert "customer" in content["schema"]["properties"]
    assert "order_delivered" in content["examples"]
    assert any(p["name"] == "X-Cxbot-Signature" for p in operation["parameters"])
    assert {"200", "401", "413", "422", "503"} <= set(operation["responses"])
    assert "accepted" in operation["responses"]["200"]["content"]["application/json"]["examples"]
