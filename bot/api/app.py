"""The FastAPI application factory. HTTP status codes are chosen here and only here."""

from __future__ import annotations

import json
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from bot.api.ops import ops_router
from bot.engine.wiring import App
from bot.infra.asgi import Answer, FastHandler, FastRouter, Receive, Scope, Send
from flows.errors import AuthError, ConflictError, CxbotError, InputError, NotFoundError, StorageError


def _error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return body


def _translated(exc: CxbotError) -> tuple[int, dict[str, object]]:
    """Return the status and body answering ``exc``, for every route (fast ones included)."""
    if isinstance(exc, AuthError):
        return 401, _error_body("unauthorized", str(exc))
    if isinstance(exc, InputError):
        return 422, _error_body("invalid", str(exc), exc.field)
    if isinstance(exc, NotFoundError):
        return 404, _error_body("not_found", str(exc))
    if isinstance(exc, ConflictError):
        return 409, _error_body("conflict", str(exc))
    if isinstance(exc, StorageError):
        return 503, _error_body("unavailable", "the database is unavailable; retry later")
    return 500, _error_body("error", str(exc))


class FastPosts:
    """ASGI middleware answering POSTs to the fast routes' paths itself (``bot.infra.asgi``):
    no routing, dependency solving or Request object on the hottest path (Telegram's webhook);
    cxbot's errors are answered as the exception handlers below answer them. Everything else
    goes on to FastAPI."""

    def __init__(self, app: object, handlers: dict[str, FastHandler]) -> None:
        self.app = app
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        try:
            answer = await handler(scope, receive)
        except CxbotError as exc:
            status, body = _translated(exc)
            answer = Answer(status, json.dumps(body, separators=(",", ":")).encode())
        if answer is None:  # the client left: nobody to answer
            return
        length = str(len(answer.body)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", length)]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


def create_api(app: App, routers: Iterable[APIRouter] = ()) -> FastAPI:
    """Return the HTTP API for ``app`` with cxbot's error translation and the given routers."""
    api = FastAPI(
        title="cxbot",
        version="0.1.0",
        description="Post-sale customer-experience bot: business events in, Telegram webhook, health.",
    )
    api.state.cxbot = app

    @api.exception_handler(CxbotError)
    async def _cxbot_error(_: Request, exc: CxbotError) -> JSONResponse:
        status, body = _translated(exc)
        return JSONResponse(status_code=status, content=body)

    @api.get("/healthz", tags=["operations"], summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    api.include_router(ops_router())
    from bot.api.events import events_router  # here: bot.api.events imports this package

    fast: dict[str, FastHandler] = {}
    for router in (events_router(), *routers):
        api.include_router(router)
        if isinstance(router, FastRouter):
            fast.update(router.fast_posts)
    if fast:
        api.add_middleware(FastPosts, handlers=fast)
    return api
