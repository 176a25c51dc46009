"""The connectors' background work: map stored deliveries, send Chatwoot notes and deep-link e-mails."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import structlog

from bot.connectors import chatwoot_out, deeplink_mail
from bot.connectors.metrics import OUTBOUND
from bot.connectors.worker import process_pending
from bot.leader import WORKER_ID
from bot.wiring import App
from flows.errors import ChannelError, ConfigError
from storage.claims import claim_outbox, finish_message

log = structlog.get_logger(__name__)
OUTBOUND_CHANNELS = (chatwoot_out.CHANNEL, deeplink_mail.CHANNEL)
MAX_ATTEMPTS = 8
OWNER = f"{WORKER_ID}:connectors"


def deliver_outbound(app: App, now: datetime, *, limit: int = 20) -> dict[str, int]:
    """Send pending Chatwoot notes and deep-link e-mails; retry with backoff; return counts."""
    counts: dict[str, int] = {}
    for message in claim_outbox(app.db, OWNER, now, channels=OUTBOUND_CHANNELS, limit=limit):
        try:
            if message.channel == chatwoot_out.CHANNEL:
                chatwoot_out.deliver(app.db, app.settings, dict(message.payload), now)
            else:
                deeplink_mail.deliver(app.settings, dict(message.payload))
        except (ChannelError, ConfigError) as exc:
            permanent = isinstance(exc, ConfigError) or exc.permanent or message.attempts >= MAX_ATTEMPTS
            retry = None if permanent else now + timedelta(minutes=min(2 ** (message.attempts - 1), 60))
            finish_message(app.db, message.id, now, sent=False, error=str(exc), retry_at=retry)
            log.warning(
                "connector_outbound_failed", channel=message.channel, id=message.id, permanent=permanent
            )
            outcome = "failed" if permanent else "retry"
        else:
            finish_message(app.db, message.id, now, sent=True)
            outcome = "sent"
        OUTBOUND.labels(message.channel, outcome).inc()
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def connectors_component(
    app: App, *, every: float = 2.0, wake: asyncio.Event | None = None
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """Return the component working stored deliveries and outbound messages until stopped.

    ``wake`` (set by the HTTP route after storing a delivery) starts a pass at once, so a
    delivery is usually mapped within milliseconds; the periodic pass catches the rest (a crash,
    another worker's rows, retries).
    """
    chatwoot_out.install(app)
    wake = wake or asyncio.Event()

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            wake.clear()
            now = app.service.clock()
            try:
                processed = await asyncio.to_thread(process_pending, app, now)
                if processed:
                    log.info("connector_deliveries", **processed)
                await asyncio.to_thread(deliver_outbound, app, now)
            except Exception:
                log.exception("connector_jobs_failed")  # retried on the next pass
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), every)
            for waiter in waiters:
                waiter.cancel()

    return run
