"""The HTTP API fuzzed (schemathesis, unsigned and signed); oversized bodies, bad signatures, replays."""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.api.app import create_api
from bot.api.events import MAX_BODY_BYTES, SIGNATURE_HEADER, sign
from bot.channels.telegram.webhook import webhook_router
from bot.engine.wiring import build_app
from bot.infra.settings import Settings

SECRET = "fuzz-events-secret"
HOOK_SECRET = "fuzz-hook-secret"
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


def _api() -> FastAPI:
    """The API as served (events and the Telegram webhook) on a throwaway SQLite file."""
    path = Path(tempfile.mkdtemp(prefix="cxbot-fuzz-")) / "fuzz.db"
    app = build_app(
        Settings(database_url=f"sqlite:///{path}", events_secret=SECRET, webhook_secret=HOOK_SECRET),
        clock=lambda: NOW,
    )
    return create_api(app, [webhook_router(app.db, HOOK_SECRET, app.service.clock, lambda: None)])


API = _api()
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", API)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@SCHEMA.parametrize()
@FUZZ
def test_fuzzed_requests_never_5xx_and_conform(case: Any) -> None:
    """Random requests to every operation: no 5xx, status, content type and body as documented."""
    response = case.call()
    assert response.status_code < 500
    case.validate_response(response, checks=CHECKS)


EVENTS = SCHEMA["/v1/events"]["POST"]


@given(case=EVENTS.as_strategy())
@FUZZ
def test_fuzzed_signed_events_never_5xx(case: Any) -> None:
    """Random event bodies correctly signed get past the signature: answered 200 or a documented 4xx."""
    body = json.dumps(case.body).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, body, TS)}
    response = asyncio.run(_post(body, headers))
    assert response.status_code in (200, 400, 409, 422), response.text
    assert response.status_code != 401
    assert set(response.json()) >= ({"status"} if response.status_code == 200 else {"error", "message"})


async def _post(body: bytes, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=API)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post("/v1/events", content=body, headers=headers)


def _event(event_id: str) -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "type": "order.delivered",
            "occurred_at": (NOW - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-fuzz", "language": "it"},
            "order": {"id": "o-1"},
        }
    ).encode()


async def test_oversized_body_is_413_before_anything_else() -> None:
    """A body over the limit is refused with 413, signed or not, declared or streamed."""
    big = b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"
    for headers in ({}, {SIGNATURE_HEADER: sign(SECRET, big, TS)}):
        response = await _post(big, {"Content-Type": "application/json", **headers})
        assert response.status_code == 413
        assert response.json()["error"] == "too_large"

    async def stream() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    transport = httpx.ASGITransport(app=API)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/v1/events", content=stream(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "md5=abc",
        "sha256=" + "0" * 64,
        sign("other-secret", _event("e-sig"), TS),
        "sha256=zz",
    ],
)
async def test_bad_signatures_are_401(signature: str | None) -> None:
    """Missing, malformed, wrong-scheme, wrong-key signatures: 401, nothing stored."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    response = await _post(_event("e-sig"), headers)
    assert response.status_code == 401
    assert response.json()["error"]


async def test_signature_of_another_body_is_401() -> None:
    """A valid signature taken from one body does not authorise a different body."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, _event("e-a"), TS)}
    assert (await _post(_event("e-b"), headers)).status_code == 401


async def test_replayed_event_is_a_duplicate() -> None:
    """Replaying a signed event verbatim is answered "duplicate" and schedules nothing new."""
    body = _event("e-replay")
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, body, TS)}
    first = await _post(body, headers)
    second = await _post(body, headers)
    assert first.json()["status"] == "accepted"
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert second.json()["scheduled"] == []


@given(st.binary(max_size=2000))
@FUZZ
def test_signed_garbage_bytes_are_4xx(body: bytes) -> None:
    """Arbitrary signed bytes (not JSON, wrong JSON) are a 4xx naming the problem, never a 5xx."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, body, TS)}
    response = asyncio.run(_post(body, headers))
    assert 400 <= response.status_code < 500 or response.status_code == 200
