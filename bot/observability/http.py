"""Operations endpoints: ``GET /metrics`` (Prometheus) and ``GET /readyz``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot.observability.metrics import REGISTRY, watch_database
from bot.wiring import App
from storage import migrate


def _checks(app: App) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with app.db.read() as session:
            session.connection().execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["migrations"] = "ok" if migrate.is_current(app.db) else "pending: run `cxbot db upgrade`"
    except Exception as exc:  # any failure means not ready
        checks["database"] = f"unreachable: {type(exc).__name__}"
    return checks


#: Checks reported in /readyz as detail only: Telegram being unreachable is an outage of theirs
#: (cxbot keeps everything and retries), not a reason to take this process out of service.
DETAIL_ONLY = ("telegram",)


def is_ready(checks: dict[str, str]) -> bool:
    """Return True when every check that decides readiness says "ok".

    Decides: the database, the migrations and every supervised task (``task:<name>``: one that
    keeps crashing, or a poller that hangs, makes this process not ready). Reported only:
    ``DETAIL_ONLY`` (the Bot API unreachable, polling stalled by an outage).
    """
    return all(value == "ok" for name, value in checks.items() if name not in DETAIL_ONLY)


def ops_router() -> APIRouter:
    """Return the router with /metrics and /readyz."""
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", summary="Prometheus metrics.", response_class=Response)
    async def metrics(request: Request) -> Response:
        watch_database(request.app.state.cxbot.db)
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return Response(content=body, media_type=CONTENT_TYPE_LATEST)

    @router.get(
        "/readyz",
        summary="Readiness: database reachable, migrations current, no task failing; Telegram as detail.",
    )
    async def readyz(request: Request) -> JSONResponse:
        app: App = request.app.state.cxbot
        checks = await asyncio.to_thread(_checks, app)
        for name, probe in getattr(request.app.state, "probes", {}).items():
            checks[name] = await probe()
        supervisor = getattr(request.app.state, "supervisor", None)
        if supervisor is not None:
            checks.update(supervisor.checks())
        ready = is_ready(checks)
        return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "checks": checks})

    return router
