"""``POST /telegram/webhook``: store the update in the inbox, then answer 200.

Unlike aiogram's stock handler (answers first, processes in the background), the answer comes
only after the update is durably stored, so Telegram retries whatever we did not keep.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import Route, incoming
from bot.infra.clock import Clock
from bot.infra.group_commit import GroupCommit
from bot.security.bodies import BodyTooLarge, read_bounded
from storage import inbox
from storage.db import Database

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_BODY = 1_000_000


# Documented in the OpenAPI schema (every answer the route can give, as the schema promises).
_ERRORS = {
    400: "Not JSON, or not a Telegram update.",
    401: "The secret token header is missing.",
    403: "The secret token is wrong.",
    413: "The update is too large.",
    503: "The database is unavailable; Telegram delivers the update again.",
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "message": message})


def webhook_router(
    db: Database, secret: str, clock: Clock, on_stored: Callable[[], None], *, route: Route = incoming
) -> APIRouter:
    """Return the router receiving Telegram's webhook calls, checked against ``secret``; each
    update is stored in the inbox of the channel it belongs to (``route``)."""
    router = APIRouter(tags=["telegram"])

    def write(rows: list[inbox.Incoming]) -> list[None]:
        inbox.store(db, CHANNEL, rows, clock())
        return [None] * len(rows)

    # Concurrent calls are stored together (one transaction), each answered once its update is in.
    updates: GroupCommit[inbox.Incoming, None] = GroupCommit(write, name="telegram-webhook-store")

    @router.post(
        PATH,
        summary="Telegram webhook: stores the update, then answers 200.",
        responses={status: {"description": text} for status, text in _ERRORS.items()},
    )
    async def telegram_webhook(request: Request) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER)
        if not given:
            return _error(401, "unauthorized", "missing secret token header")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return _error(403, "forbidden", "wrong secret token")
        try:  # bounded while streaming: an endless body is cut at MAX_BODY, not buffered
            body = await read_bounded(request, MAX_BODY)
        except BodyTooLarge:
            return _error(413, "too_large", "update too large")
        try:
            raw = json.loads(body)
        except ValueError:
            return _error(400, "invalid", "body is not JSON")
        row = route(raw) if isinstance(raw, dict) else None
        if row is None:
            return _error(400, "invalid", "not a Telegram update")
        # A StorageError here becomes 503 (see create_api), so Telegram delivers it again.
        await updates.submit(row)
        on_stored()
        return JSONResponse({"ok": True})

    return router
