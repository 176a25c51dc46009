"""The Rasa action server: rasa-sdk's ``ActionExecutor`` behind a Sanic app (``/webhook``,
``/actions``, ``/health``), answering exactly as rasa-sdk's own endpoint does.

Why not ``rasa_sdk.endpoint.create_app`` itself: it raises a ``UserWarning`` on every request from
a Rasa whose version differs from the SDK's (Rasa Open Source 3.6 vs rasa-sdk 3.x), and names
every app "rasa_sdk" (Sanic allows one app per name and process). Status codes, deflate bodies and
the domain digest protocol are rasa-sdk's: 400 invalid body or rejected, 404 unknown action,
449 domain needed (Rasa then resends the request with its domain). The tracker and domain are
checked first (``call_shape``): a malformed part is a 400 naming it, never a 500 from the SDK.
"""

from __future__ import annotations

import itertools
import json
import zlib
from typing import Any

import structlog
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import (
    ActionExecutionRejection,
    ActionMissingDomainException,
    ActionNotFoundException,
)
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.rasa.actions import cxbot_actions
from bot.channels.rasa.call_shape import MalformedCall, checked_call
from bot.engine.wiring import App

log = structlog.get_logger(__name__)

MAX_BODY = 5 * 1024 * 1024  # a tracker with a long history plus the domain
_names = itertools.count(1)


def build_executor(app: App) -> ActionExecutor:
    """Return an ActionExecutor with every cxbot action registered."""
    executor = ActionExecutor()
    for action in cxbot_actions(app):
        executor.register_action(action)
    return executor


def _decode(request: Request) -> Any:
    """Return the JSON action call, inflating a ``Content-Encoding: deflate`` body; None if invalid."""
    try:
        if request.headers.get("Content-Encoding") == "deflate":
            # Bounded inflate: a small compressed body must not expand without limit.
            inflater = zlib.decompressobj()
            raw = inflater.decompress(request.body, MAX_BODY)
            if inflater.unconsumed_tail:
                return None
            return json.loads(raw)
        return json.loads(request.body) if request.body else None
    except (zlib.error, ValueError):
        return None


def create_action_server(app: App, *, executor: ActionExecutor | None = None) -> Sanic[Any, Any]:
    """Return the Sanic action server for ``app`` (serve it, or call it as an ASGI app)."""
    executor = executor or build_executor(app)
    server = Sanic(f"cxbot_rasa_actions_{next(_names)}", configure_logging=False)
    server.config.REQUEST_MAX_SIZE = MAX_BODY
    # TouchUp rewrites Sanic's class methods at start-up; a second app in one process then fails.
    server.config.TOUCHUP = False

    @server.get("/health")
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @server.get("/actions")
    async def actions(_: Request) -> HTTPResponse:
        return response.json([{"name": name} for name in executor.actions])

    @server.post("/webhook")
    async def webhook(request: Request) -> HTTPResponse:
        decoded = _decode(request)
        if not isinstance(decoded, dict):
            return response.json({"error": "Invalid body request"}, status=400)
        try:
            call = checked_call(decoded)
        except MalformedCall as exc:
            log.warning("rasa_bad_request", field=exc.field)
            return response.json({"error": f"Invalid body request: {exc}", "field": exc.field}, status=400)
        try:
            result = await executor.run(call)
        except ActionNotFoundException as exc:
            return response.json({"error": exc.message, "action_name": exc.action_name}, status=404)
        except ActionMissingDomainException as exc:
            return response.json({"error": exc.message, "action_name": exc.action_name}, status=449)
        except ActionExecutionRejection as exc:
            return response.json({"error": exc.message, "action_name": exc.action_name}, status=400)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # A shape call_shape does not know yet (the SDK reads more than the documented parts).
            log.warning("rasa_bad_request", action=call.get("next_action"), error=type(exc).__name__)
            return response.json({"error": "Invalid body request"}, status=400)
        return response.json(result.model_dump() if result else None)

    return server
