"""The FastAPI application factory. HTTP status codes are chosen here and only here."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from bot.api.ops import ops_router
from bot.engine.wiring import App
from flows.errors import AuthError, ConflictError, CxbotError, InputError, NotFoundError, StorageError


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, object] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(status_code=status, content=body)


def create_api(app: App, routers: Iterable[APIRouter] = ()) -> FastAPI:
    """Return the HTTP API for ``app`` with cxbot's error translation and the given routers."""
    api = FastAPI(
        title="cxbot",
        version="0.1.0",
        description="Post-sale customer-experience bot: business events in, Telegram webhook, health.",
    )
    api.state.cxbot = app

    @api.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return _error(401, "unauthorized", str(exc))

    @api.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return _error(422, "invalid", str(exc), exc.field)

    @api.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @api.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    @api.exception_handler(StorageError)
    async def _storage(_: Request, exc: StorageError) -> JSONResponse:
        return _error(503, "unavailable", "the database is unavailable; retry later")

    @api.exception_handler(CxbotError)
    async def _other(_: Request, exc: CxbotError) -> JSONResponse:
        return _error(500, "error", str(exc))

    @api.get("/healthz", tags=["operations"], summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    api.include_router(ops_router())
    from bot.api.events import events_router  # here: bot.api.events imports this package

    for router in (events_router(), *routers):
        api.include_router(router)
    return api
