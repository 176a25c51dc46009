"""``POST /v1/connectors/<name>``: shop, tracking and helpdesk webhooks, each signed its own way.

The body is read bounded and its signature checked before anything is parsed or stored; a
verified delivery is stored raw (idempotent on the sender's delivery id) and answered at once:
200 ``accepted`` or ``duplicate``, 202 ``stored`` when cxbot cannot map it (kept, reported by
``cxbot connectors``, replayable), 401 for a bad signature (counted, traced without the body),
413 when too large, 503 when the connector has no secret or the database is down. Mapping and
ingesting happen in the background from the stored row, so the sender never waits on them and
a crash loses nothing. Never a 500 for a payload.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import MutableHeaders

from bot.connectors import CONNECTORS, woocommerce
from bot.connectors.base import Connector, Ignored, Unmappable, load_json
from bot.connectors.deeplink_mail import read_unsubscribe_token
from bot.connectors.metrics import DELIVERIES
from bot.connectors.worker import options
from bot.engine.wiring import App
from flows.errors import AuthError
from storage import connector_deliveries as store
from storage import repo

log = structlog.get_logger(__name__)
MAX_BODY_BYTES = 512 * 1024  # a large Shopify order is ~50 KiB


class _TooLarge(Exception):
    pass


async def _read_bounded(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # also bounds chunked bodies, which declare no length
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(code: int, **content: Any) -> JSONResponse:
    return JSONResponse(status_code=code, content=content)


def _secret(app: App, connector: Connector) -> str | None:
    value = getattr(app.settings, connector.setting, None)
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


def _mappable(connector: Connector, topic: str, body: bytes, app: App) -> str | None:
    """Return why the delivery cannot be mapped (None when it can, or needs nothing)."""
    try:
        connector.map(topic, load_json(body), options(app.settings))
    except Ignored:
        return None
    except Unmappable as exc:
        return str(exc)
    except Exception as exc:  # a mapping bug must not cost the sender a 500: stored, reported
        return f"mapping error: {type(exc).__name__}"
    return None


def connectors_router(wake: asyncio.Event | None = None) -> APIRouter:
    """Return the router of every connector (the app is read from ``request.app.state.cxbot``).

    ``wake`` is set after each stored delivery so the background worker maps it at once.
    """
    router = APIRouter(tags=["connectors"])

    @router.post(
        "/v1/connectors/{name}",
        summary="Receive a webhook from Shopify, WooCommerce, AfterShip, Chatwoot or a helpdesk.",
        responses={
            200: {"description": "Stored (`accepted`), a redelivery (`duplicate`) or a WooCommerce ping."},
            202: {"description": "Stored, but cxbot cannot map it (`stored`, with the reason)."},
            401: {"description": "Signature or shared secret missing or wrong."},
            404: {"description": "No such connector."},
            413: {"description": f"Body larger than {MAX_BODY_BYTES // 1024} KiB."},
            503: {"description": "The connector's secret is not set, or the database is down."},
        },
    )
    async def receive(name: str, request: Request) -> Any:
        """Store one webhook delivery (verified with its sender's own signature) and answer at once."""
        app: App = request.app.state.cxbot
        connector = CONNECTORS.get(name)
        if connector is None:
            return _answer(
                404, error="not_found", message=f"no connector {name!r}; known: {', '.join(CONNECTORS)}"
            )
        secret = _secret(app, connector)
        if secret is None:
            variable = f"CXBOT_{connector.setting.upper()}"
            return _answer(503, error="not_configured", message=f"{variable} is not set: {name} is disabled")
        try:
            body = await _read_bounded(request, MAX_BODY_BYTES)
        except _TooLarge:
            DELIVERIES.labels(name, "rejected").inc()
            return _answer(413, error="too_large", message=f"the body exceeds {MAX_BODY_BYTES} bytes")
        headers = MutableHeaders(raw=list(request.headers.raw))
        if "token" in request.query_params:  # senders that can only put a secret in the URL
            headers["X-Cxbot-Token"] = request.query_params["token"]
        if connector is woocommerce.CONNECTOR and woocommerce.is_ping(body, headers):
            DELIVERIES.labels(name, "ping").inc()
            return _answer(200, status="ping")
        now = app.service.clock()
        try:
            connector.verify(secret, body, headers)
        except AuthError as exc:
            DELIVERIES.labels(name, "rejected").inc()
            log.warning("connector_rejected", connector=name, reason=str(exc))
            await asyncio.to_thread(store.record_rejected, app.db, name, str(exc), now)
            raise
        delivery_id, topic = connector.identify(body, headers)
        stored = await asyncio.to_thread(store.record, app.db, name, delivery_id, topic, body, now)
        if not stored:
            DELIVERIES.labels(name, "duplicate").inc()
            return _answer(200, status="duplicate")
        DELIVERIES.labels(name, "accepted").inc()
        if wake is not None:
            wake.set()
        reason = _mappable(connector, topic, body, app)
        if reason is not None:
            return _answer(202, status="stored", reason=reason)
        return _answer(200, status="accepted")

    @router.get("/v1/connectors/unsubscribe/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def unsubscribe(token: str, request: Request) -> HTMLResponse:
        """Opt a customer out from the link of a deep-link e-mail."""
        app: App = request.app.state.cxbot
        secret = app.settings.link_secret
        customer = read_unsubscribe_token(secret.get_secret_value(), token) if secret else None
        if customer is None:
            return HTMLResponse("<p>Link non valido. / Invalid link.</p>", status_code=404)
        now = app.service.clock()

        def opt_out() -> None:
            with app.db.write() as session:
                repo.update_customer(session, customer, now, opted_out=True, opted_out_at=now)

        await asyncio.to_thread(opt_out)
        log.info("customer_unsubscribed", via="deep_link_email")
        return HTMLResponse(
            "<p>Fatto: non riceverai altri messaggi. / Done: you won't receive any more messages.</p>"
        )

    return router
