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

from bot.escalations import hooks
from bot.escalations.destinations import deliver_destinations
from bot.escalations.sla import sweep_sla
from bot.wiring import App

log = structlog.get_logger(__name__)


def escalation_component(
    app: App, *, sla_every: float = 60.0, deliver_every: float = 10.0
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """Return the component running ``sweep_sla`` and ``deliver_destinations`` until stopped.

    Raises:
        ConfigError: when the company timezone is unknown.
    """
    config = hooks.install(app)
    settings = app.settings
    copies = config.helpdesk or config.email

    async def run(stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        while not stop.is_set():
            now = app.service.clock()
            try:
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + sla_every
                    counts = await asyncio.to_thread(sweep_sla, app, now, config)
                    if counts["nudged"] or counts["marked"]:
                        log.info("sla_sweep", **counts)
                if copies:
                    await asyncio.to_thread(deliver_destinations, app.db, settings, now)
            except Exception:
                log.exception("escalation_jobs_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=deliver_every if copies else sla_every)

    return run
