"""``POST /v1/events``: business events in, signed with a timestamped HMAC-SHA256.

The body is read (bounded while streaming) and its signature checked before anything is
parsed, so an unsigned, stale or oversized request never reaches the JSON parser or the
database. A replay within the 5-minute tolerance is a ``duplicate`` (``event_id``) and never
gets a deep link: only the event's first delivery issues a start token.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bot.channels.telegram.username import bot_username
from bot.engine.wiring import App
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.events.validation import parse_event
from bot.infra.settings import quiet_hours
from bot.observability.metrics import LEGACY_SIGNATURES, REFUSED_SIGNATURES
from bot.security import signatures
from bot.security.bodies import BodyTooLarge, read_bounded
from flows.errors import AuthError
from storage.links import deep_link

MAX_BODY_BYTES = 64 * 1024
SIGNATURE_HEADER = "X-Cxbot-Signature"
SIGNATURE_DOC = (
    "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.' + raw body with CXBOT_EVENTS_SECRET>; "
    "t within 5 minutes of the server's clock (sha256=<hex of the body> still accepted, deprecated)"
)

log = structlog.get_logger(__name__)


class ScheduledSurvey(BaseModel):
    """A survey the event scheduled: its stage and when it falls due (inside the sending window)."""

    stage: str
    due_at: datetime


class EventAnswer(BaseModel):
    """The outcome of an event."""

    status: Literal["accepted", "duplicate"]
    deep_link: str | None = None
    scheduled: list[ScheduledSurvey] = []


class ErrorAnswer(BaseModel):
    """Every error answer: a code, a readable message and, for invalid input, the field."""

    error: str
    message: str
    field: str | None = None


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the ``X-Cxbot-Signature`` value for ``body`` sent at ``timestamp`` (for clients and tests)."""
    return signatures.sign_timestamped(secret, body, timestamp)


def _verify(secret: str, body: bytes, header: str | None, now: datetime) -> None:
    try:
        verified = signatures.verify(secret, body, header, now)
    except AuthError as exc:
        REFUSED_SIGNATURES.labels("events").inc()
        raise AuthError(f"{SIGNATURE_HEADER}: {exc}") from exc
    if verified.scheme == signatures.LEGACY:
        LEGACY_SIGNATURES.labels("events").inc()
        log.warning(
            "legacy_signature",
            endpoint="/v1/events",
            detail="sha256=<hex> is deprecated and replayable; sign t=<unix>,v1=<hex> over 't.' + body",
        )


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Return a JSON schema with its ``$defs`` references inlined (OpenAPI has no ``$defs``)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    result: dict[str, Any] = resolve(schema)
    return result


def _request_body_doc() -> dict[str, Any]:
    schema = _inline(BusinessEventIn.model_json_schema())
    examples = schema.pop("examples", [])
    return {
        "requestBody": {
            "required": True,
            "description": (
                f"A business event (JSON, at most {MAX_BODY_BYTES // 1024} KiB), signed: header "
                f"`{SIGNATURE_HEADER}: {SIGNATURE_DOC}`."
            ),
            "content": {
                "application/json": {
                    "schema": schema,
                    "examples": {e["type"].replace(".", "_"): {"value": e} for e in examples},
                }
            },
        },
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {
                    "type": "string",
                    "pattern": "^(t=[0-9]{1,12},v1=[0-9a-f]{64}|sha256=[0-9a-f]{64})$",
                },
                "description": SIGNATURE_DOC,
            }
        ],
    }


def _error_doc(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": ErrorAnswer,
        "description": description,
        "content": {"application/json": {"example": example}},
    }


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Accepted, or a duplicate of an event already received (nothing written again).",
        "content": {
            "application/json": {
                "examples": {
                    "accepted": {
                        "value": {
                            "status": "accepted",
                            "deep_link": "https://t.me/moka_bot?start=Q2hhbmdlTWVQbGVhc2VUb2tlbjEy",
                            "scheduled": [
                                {"stage": "delivered", "due_at": "2026-11-20T12:00:00Z"},
                                {"stage": "first_use", "due_at": "2026-11-27T10:00:00Z"},
                            ],
                        }
                    },
                    "duplicate": {"value": {"status": "duplicate", "deep_link": None, "scheduled": []}},
                }
            }
        },
    },
    401: _error_doc(
        "Signature missing, wrong, or its timestamp outside 5 minutes of the server's clock.",
        {"error": "unauthorized", "message": "X-Cxbot-Signature does not match the body"},
    ),
    413: _error_doc(
        "Body larger than 64 KiB.", {"error": "too_large", "message": "the body exceeds 65536 bytes"}
    ),
    422: _error_doc(
        "Invalid event; `field` names the first invalid field.",
        {
            "error": "invalid",
            "message": "customer.language: String should match pattern '^(it|en)([-_][A-Za-z]{2})?$'",
            "field": "customer.language",
        },
    ),
    409: _error_doc(
        "The customer was erased (`cxbot forget`): events about them are refused, nothing is stored.",
        {
            "error": "conflict",
            "message": "customer.id: this customer's data was erased; events about them are refused",
        },
    ),
    503: _error_doc(
        "No CXBOT_EVENTS_SECRET configured (unsigned events are never accepted), or the database is down.",
        {"error": "not_configured", "message": "CXBOT_EVENTS_SECRET is not set: the events API is disabled"},
    ),
}


def events_router() -> APIRouter:
    """Return the router serving ``POST /v1/events`` (the app is read from ``request.app.state.cxbot``)."""
    router = APIRouter(tags=["events"])

    @router.post(
        "/v1/events",
        summary="Receive a business event (order, delivery, ticket…) and schedule its surveys.",
        response_model=EventAnswer,
        responses=_RESPONSES,
        openapi_extra=_request_body_doc(),
    )
    async def post_event(request: Request) -> Any:
        """Store a signed business event once (idempotent on ``event_id``) and schedule or cancel surveys.

        `deep_link` is set when the bot cannot reach the customer yet: put it in the order e-mail
        or page; pressing Start binds the chat and releases the pending surveys.
        """
        app: App = request.app.state.cxbot
        settings = app.settings
        if settings.events_secret is None or not settings.events_secret.get_secret_value():
            return JSONResponse(
                status_code=503,
                content={
                    "error": "not_configured",
                    "message": "CXBOT_EVENTS_SECRET is not set: the events API refuses every request",
                },
            )
        try:
            body = await read_bounded(request, MAX_BODY_BYTES)
        except BodyTooLarge as exc:
            return JSONResponse(status_code=413, content={"error": "too_large", "message": str(exc)})
        now = app.service.clock()
        _verify(settings.events_secret.get_secret_value(), body, request.headers.get(SIGNATURE_HEADER), now)
        event = parse_event(body)
        quiet = quiet_hours(settings)
        result = await asyncio.to_thread(
            ingest_event, app.db, app.journey, event, now, quiet=quiet, link_token=True
        )
        link = deep_link(bot_username(settings), result.token) if result.token else None
        if result.token and link is None:  # the customer needs a link we cannot make: say so
            structlog.get_logger(__name__).warning(
                "deep_link_unavailable", reason="bot username unknown (CXBOT_TELEGRAM_BOT_USERNAME, getMe)"
            )
        return EventAnswer(
            status="accepted" if result.status == "accepted" else "duplicate",
            deep_link=link,
            scheduled=[ScheduledSurvey(stage=stage, due_at=due) for stage, due in result.scheduled],
        )

    return router
