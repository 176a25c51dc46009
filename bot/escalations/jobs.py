"""The escalation jobs ``cxbot serve`` runs: the SLA sweep and helpdesk/e-mail delivery.

``escalation_component(app)`` is a runtime component (``Runtime.components.append(...)``); it
also installs the card hook, so cards and copies are written even without the Telegram channel.
Safe with several workers: nudges are claimed with a conditional UPDATE, deliveries with leases.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from bot.engine.wiring import App
from bot.escalations import hooks
from bot.escalations.destinations import destination_senders
from bot.escalations.sla import sweep_sla

log = structlog.get_logger(__name__)


def escalation_component(
    app: App, *, sla_every: float = 60.0, deliver_every: float = 10.0
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """Return the component running ``sweep_sla`` and, when configured, the helpdesk and e-mail
    senders until stopped.

    Raises:
        ConfigError: when the company timezone is unknown.
    """
    config = hooks.install(app)
    copies = config.helpdesk or config.email
    senders = (
        destination_senders(app.db, app.settings, app.service.clock, every=deliver_every) if copies else []
    )

    async def sweep(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                counts = await asyncio.to_thread(sweep_sla, app, app.service.clock(), config)
                if counts["nudged"] or counts["marked"]:
                    log.info("sla_sweep", **counts)
            except Exception:
                log.exception("escalation_jobs_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=sla_every)

    async def run(stop: asyncio.Event) -> None:
        await asyncio.gather(sweep(stop), *(sender.run(stop) for sender in senders))

    return run
