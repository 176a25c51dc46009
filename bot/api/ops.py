"""Operations endpoints: ``GET /metrics`` (Prometheus) and ``GET /readyz``.

``/healthz`` (in bot.api.app) says the process answers. ``/readyz`` says this process can take
events: the database is reachable and its schema is at head. Channels (Telegram's getMe…) are
*reported* under ``channels`` and as the ``cxbot_channel_up`` gauge but never fail readiness: a
Telegram outage must not make a load balancer drop the events API; nor do dead letters in the
outbox, reported under ``warnings``. Everything readiness is made of is composed in
:func:`readiness`, the one place to add a check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.engine.wiring import App
from bot.observability.metrics import CHANNEL_UP, REGISTRY, watch_database
from storage import migrate
from storage.dead_letters import dead_letters

Probe = Callable[[], Coroutine[Any, Any, str]]
#: A channel probe slower than this counts as "unreachable" (a load balancer polls /readyz often).
PROBE_TIMEOUT = 3.0


def _checks(app: App) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        app.db.ping()
        checks["database"] = "ok"
        problem = migrate.schema_problem(migrate.current_revision(app.db), migrate.head_revision())
        checks["migrations"] = "ok" if problem is None else f"pending: {problem}"
    except Exception as exc:  # any failure means not ready
        checks["database"] = f"unreachable: {type(exc).__name__}"
    return checks


async def _probe(name: str, probe: Probe) -> str:
    try:
        state = await asyncio.wait_for(probe(), PROBE_TIMEOUT)
    except TimeoutError:
        state = f"unreachable: no answer in {PROBE_TIMEOUT:.0f} s"
    if not name.startswith(TASK):
        CHANNEL_UP.labels(channel=name).set(1 if state == "ok" else 0)
    return state


#: Probes named ``task:<name>`` judge one of this process's own tasks (a poller that hangs):
#: they decide readiness like the supervisor's checks; every other probe is a channel, reported.
TASK = "task:"


def dead_letter_warning(app: App) -> str | None:
    """Return what /readyz says about dead letters, or None when there are none to look at.

    A chat that blocked the bot is the customer's choice, not a fault: counted in ``/metrics``
    and ``cxbot status``, not warned about here.
    """
    try:
        letters = [d for d in dead_letters(app.db) if d.reason != "blocked"]
    except Exception:  # the database check names the problem
        return None
    if not letters:
        return None
    each = ", ".join(f"{d.channel} {d.count} ({d.reason})" for d in letters)
    oldest = min(d.oldest for d in letters)
    return (
        f"{sum(d.count for d in letters)} outbox messages given up on: {each}; "
        f"oldest {oldest:%Y-%m-%d %H:%M} UTC; see `cxbot status`, send again with `cxbot outbox retry-dead`"
    )


async def readiness(
    app: App,
    probes: Mapping[str, Probe],
    warnings: Mapping[str, str],
    tasks: Mapping[str, str] | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Return (ready, body of /readyz).

    ``checks`` decide readiness: the database, the migrations, and this process's own tasks
    (``task:<name>`` from the supervisor, or a probe of that name: one that keeps crashing, a
    poller that hangs). ``channels`` (e.g. Telegram's getMe: an outage of theirs) and ``warnings``
    (e.g. no channel can deliver, dead letters in the outbox) are details an operator must see
    but that do not stop this process from taking events.
    """
    checks = await asyncio.to_thread(_checks, app)
    dead = await asyncio.to_thread(dead_letter_warning, app)
    if dead is not None:
        warnings = {**warnings, "outbox": dead}
    checks.update(tasks or {})
    channels: dict[str, str] = {}
    for name, probe in probes.items():
        (checks if name.startswith(TASK) else channels)[name] = await _probe(name, probe)
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"ready": ready, "checks": checks}
    if channels:
        body["channels"] = channels
    if warnings:
        body["warnings"] = dict(warnings)
    return ready, body


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
        summary="Readiness: database reachable, migrations current, no task failing; channels reported.",
    )
    async def readyz(request: Request) -> JSONResponse:
        state = request.app.state
        supervisor = getattr(state, "supervisor", None)
        ready, body = await readiness(
            state.cxbot,
            getattr(state, "probes", {}),
            getattr(state, "warnings", {}),
            supervisor.checks() if supervisor is not None else None,
        )
        return JSONResponse(status_code=200 if ready else 503, content=body)

    return router
