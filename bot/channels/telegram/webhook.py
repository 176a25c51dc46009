"""``POST /telegram/webhook``: store the update in the inbox, then answer 200.

Unlike aiogram's stock handler (answers first, processes in the background), the answer comes
only after the update is durably stored, so Telegram retries whatever we did not keep.

Every update comes this way in webhook mode, so it is answered as bare ASGI (``FastRouter``:
served ahead of FastAPI's routing and request cycle); the FastAPI route documents it and gives
the same answers.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response

from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import Route, incoming
from bot.infra.asgi import Answer, FastRouter, Receive, Scope, header
from bot.infra.clock import Clock
from bot.infra.group_commit import GroupCommit
from bot.security.bodies import BodyTooLarge, read_bounded, read_bounded_asgi
from storage import inbox
from storage.db import Database

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_BODY = 1_000_000
_SECRET_KEY = SECRET_HEADER.lower().encode()


# Documented in the OpenAPI schema (every answer the route can give, as the schema promises).
_ERRORS = {
    400: "Not JSON, or not a Telegram update.",
    401: "The secret token header is missing.",
    403: "The secret token is wrong.",
    413: "The update is too large.",
    503: "The database is unavailable; Telegram delivers the update again.",
}


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, json.dumps({"error": code, "message": message}, separators=(",", ":")).encode())


_OK = Answer(200, b'{"ok":true}')
_MISSING = _error(401, "unauthorized", "missing secret token header")
_WRONG = _error(403, "forbidden", "wrong secret token")
_TOO_LARGE = _error(413, "too_large", "update too large")
_NOT_JSON = _error(400, "invalid", "body is not JSON")
_NOT_UPDATE = _error(400, "invalid", "not a Telegram update")


def webhook_router(
    db: Database, secret: str, clock: Clock, on_stored: Callable[[], None], *, route: Route = incoming
) -> FastRouter:
    """Return the router receiving Telegram's webhook calls, checked against ``secret``; each
    update is stored in the inbox of the channel it belongs to (``route``)."""
    router = FastRouter(tags=["telegram"])
    expected = secret.encode()

    def write(rows: list[inbox.Incoming]) -> list[None]:
        inbox.store(db, CHANNEL, rows, clock())
        return [None] * len(rows)

    # Concurrent calls are stored together (one transaction), each answered once its update is in.
    updates: GroupCommit[inbox.Incoming, None] = GroupCommit(write, name="telegram-webhook-store")

    def refused(given: bytes | None) -> Answer | None:
        if not given:
            return _MISSING
        if not hmac.compare_digest(given, expected):
            return _WRONG
        return None

    async def store(body: bytes) -> Answer:
        try:
            raw = json.loads(body)
        except ValueError:
            return _NOT_JSON
        row = route(raw) if isinstance(raw, dict) else None
        if row is None:
            return _NOT_UPDATE
        # A StorageError here becomes 503 (the API's translation), so Telegram delivers it again.
        await updates.submit(row)
        on_stored()
        return _OK

    async def fast(scope: Scope, receive: Receive) -> Answer | None:
        answer = refused(header(scope, _SECRET_KEY))
        if answer is not None:
            return answer
        try:  # bounded while streaming: an endless body is cut at MAX_BODY, not buffered
            body = await read_bounded_asgi(scope, receive, MAX_BODY)
        except BodyTooLarge:
            return _TOO_LARGE
        return None if body is None else await store(body)

    router.fast_posts[PATH] = fast

    @router.post(
        PATH,
        summary="Telegram webhook: stores the update, then answers 200.",
        responses={status: {"description": text} for status, text in _ERRORS.items()},
    )
    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER)
        answer = refused(given.encode() if given is not None else None)
        if answer is None:
            try:
                answer = await store(await read_bounded(request, MAX_BODY))
            except BodyTooLarge:
                answer = _TOO_LARGE
        return Response(answer.body, status_code=answer.status, media_type="application/json")

    return router
