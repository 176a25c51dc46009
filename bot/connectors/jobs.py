"""The connectors' background work: map stored deliveries; send Chatwoot notes and deep-link
e-mails through the one outbox sender (policy ``SERVICES``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import structlog

from bot.connectors import chatwoot_out, deeplink_mail
from bot.connectors.worker import process_pending
from bot.delivery.mail import MailTransport
from bot.delivery.sender import Sender, SenderConfig
from bot.engine.wiring import App
from bot.infra.clock import Clock
from bot.infra.leader import WORKER_ID
from bot.infra.retry import SERVICES

log = structlog.get_logger(__name__)
OWNER = f"{WORKER_ID}:connectors"


def outbound_senders(app: App, clock: Clock, *, every: float = 2.0) -> list[Sender]:
    """Return the outbox senders of Chatwoot notes and deep-link e-mails."""
    config = SenderConfig(batch=20, concurrency=5, idle_interval=every, retry=SERVICES)
    chatwoot = chatwoot_out.ChatwootTransport(app.db, app.settings, clock)
    mail = MailTransport(app.settings, deeplink_mail.compose)
    return [
        Sender(app.db, chatwoot_out.CHANNEL, chatwoot, clock=clock, config=config, owner=OWNER),
        Sender(app.db, deeplink_mail.CHANNEL, mail, clock=clock, config=config, owner=OWNER),
    ]


async def deliver_outbound(app: App, now: datetime) -> dict[str, int]:
    """Deliver one batch of the Chatwoot notes and deep-link e-mails due at ``now`` (a conversation's
    oldest each); return how many ended each way."""
    counts: Counter[str] = Counter()
    for sender in outbound_senders(app, lambda: now):
        counts.update(await sender.send_batch())
    return dict(counts)


def connectors_component(
    app: App, *, every: float = 2.0, wake: asyncio.Event | None = None
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """Return the component working stored deliveries and sending outbound messages until stopped.

    ``wake`` (set by the HTTP route after storing a delivery) starts a pass at once, so a
    delivery is usually mapped within milliseconds; the periodic pass catches the rest (a crash,
    another worker's rows, retries). A pass that queued an e-mail wakes its sender.
    """
    chatwoot_out.install(app)
    wake = wake or asyncio.Event()
    senders = outbound_senders(app, app.service.clock, every=every)

    async def work(stop: asyncio.Event) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                processed = await asyncio.to_thread(process_pending, app, app.service.clock())
                if processed:
                    log.info("connector_deliveries", **processed)
                    for sender in senders:
                        sender.wake.set()
            except Exception:
                log.exception("connector_jobs_failed")  # retried on the next pass
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), every)
            for waiter in waiters:
                waiter.cancel()

    async def run(stop: asyncio.Event) -> None:
        await asyncio.gather(work(stop), *(sender.run(stop) for sender in senders))

    return run
