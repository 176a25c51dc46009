"""``cxbot serve``: one asyncio loop running the HTTP API, the scheduler's clock and the senders.

APScheduler (``AsyncIOScheduler``, in-memory jobs only) is just the clock: each tick claims due
work from the database with a lease. Durable truth stays in our tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import APIRouter, FastAPI

from bot.api.app import create_api
from bot.engine.timers import due_pass
from bot.engine.wiring import App
from bot.infra import supervision
from bot.infra.settings import quiet_hours

log = structlog.get_logger(__name__)

#: A long-running part of the service (a channel's poller, a sender…), started with the loop.
Component = supervision.Component
#: A channel's readiness probe: "ok" or why not.
Probe = Callable[[], Coroutine[Any, Any, str]]


class Served(Protocol):
    """What a channel gives the runtime to serve (e.g. ``TelegramChannel``): read, never mutated."""

    @property
    def routers(self) -> list[APIRouter]:
        """HTTP routes of its own (a webhook)."""
        ...

    @property
    def probes(self) -> dict[str, Probe]:
        """Its /readyz probes, by name."""
        ...

    async def run(self, stop: asyncio.Event) -> None:
        """Run every part of it until ``stop``."""
        ...


@dataclass
class Runtime:
    """What ``cxbot serve`` runs: the channels it is given (built from their constructors), with
    their routers, components and probes, beside the rest."""

    app: App
    routers: list[APIRouter] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    due_work_interval: float = 5.0
    #: Channel probes reported by /readyz (e.g. "telegram": getMe), each returning "ok" or why not;
    #: reported, never failing readiness (see bot.api.ops.readiness).
    probes: dict[str, Probe] = field(default_factory=dict)
    #: Problems an operator must see in /readyz that do not stop events being taken.
    warnings: dict[str, str] = field(default_factory=dict)
    #: Runs every component, restarting it when it crashes; its health is part of /readyz. The
    #: channels run their parts under it too (give it to their constructors).
    supervisor: supervision.Supervisor = field(default_factory=supervision.Supervisor)
    channels: list[Served] = field(default_factory=list)

    def __post_init__(self) -> None:
        for channel in self.channels:
            self.routers += channel.routers
            self.components.append(channel.run)
            self.probes.update(channel.probes)

    async def _tick_due_work(self) -> None:
        await due_pass(self.app.service, quiet_hours(self.app.settings))

    def http_api(self) -> FastAPI:
        """Return the HTTP API with this runtime's routers, channel probes, warnings and tasks."""
        api = create_api(self.app, self.routers)
        api.state.probes = self.probes
        api.state.warnings = self.warnings
        api.state.supervisor = self.supervisor
        return api

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set (or SIGINT/SIGTERM)."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not available off the main thread (tests run the runtime inside their own loop).
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        settings = self.app.settings
        api = self.http_api()
        server = uvicorn.Server(
            # log_config=None: uvicorn keeps our handler (bot/observability/logs.py redacts its tracebacks)
            uvicorn.Config(
                api, host=settings.http_host, port=settings.http_port, log_level="warning", log_config=None
            )
        )
        # Signals are ours (they set ``stop``); uvicorn must not capture and re-raise them.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
        scheduler = AsyncIOScheduler()
        scheduler.add_job(
            self._tick_due_work, "interval", seconds=self.due_work_interval, max_instances=1, coalesce=True
        )
        scheduler.start()
        tasks = [asyncio.create_task(server.serve(), name="http")]
        tasks += [
            asyncio.create_task(self.supervisor.run(name, component, stop), name=name)
            for name, component in self._named_components()
        ]
        log.info("serving", port=settings.http_port, components=len(self.components))
        try:
            await stop.wait()
        finally:
            server.should_exit = True
            scheduler.shutdown(wait=False)
            await asyncio.gather(*tasks, return_exceptions=True)
            self.app.db.dispose()

    def _named_components(self) -> list[tuple[str, Component]]:
        named: list[tuple[str, Component]] = []
        for component in self.components:
            name = supervision.name_of(component)
            taken = sum(1 for other, _ in named if other == name or other.startswith(f"{name}#"))
            named.append((f"{name}#{taken + 1}" if taken else name, component))
        return named


def settle_heap() -> None:
    """Collect start-up garbage, then take what survives (modules, schemas, the app) out of the
    garbage collector's sight for the life of the process.

    Python's full collections walk every tracked object: ~300,000 after cxbot's imports, which
    cost ~20% of the CPU per answered message under load. Start-up objects live until exit, so
    walking them again finds nothing. Called once by ``cxbot serve`` before it serves; not by
    tests, which build many apps in one process.
    """
    gc.collect()
    gc.freeze()


def build_runtime(app: App) -> Runtime:
    """Return the runtime with every configured channel, each built from its constructor:
    Telegram when CXBOT_TELEGRAM_TOKEN is set, Rasa's sender when CXBOT_RASA_URL is.

    Raises:
        ConfigError: when a channel's settings are inconsistent.
    """
    supervisor = supervision.Supervisor()
    channels: list[Served] = []
    components: list[Component] = []
    if app.settings.telegram_token is not None:
        from bot.channels.telegram.channel import TelegramChannel  # aiogram only when configured

        channels.append(TelegramChannel(app, supervisor=supervisor))
    if app.settings.rasa_url:
        from bot.channels.rasa.delivery import rasa_sender

        components.append(rasa_sender(app))
    from bot.connectors.jobs import connectors_component
    from bot.connectors.routes import connectors_router
    from bot.escalations.jobs import escalation_component

    wake = asyncio.Event()  # a stored webhook delivery wakes the connectors' worker at once
    components += [escalation_component(app), connectors_component(app, wake=wake), housekeeping(app)]
    runtime = Runtime(
        app=app,
        routers=[connectors_router(wake)],
        components=components,
        supervisor=supervisor,
        channels=channels,
    )
    warn_without_delivery(runtime)
    return runtime


#: Shown by /readyz and logged at start when no channel can send a survey.
NO_DELIVERY = (
    "no channel can deliver: surveys are scheduled but never sent; "
    "set CXBOT_TELEGRAM_TOKEN (or CXBOT_RASA_URL)"
)


def warn_without_delivery(runtime: Runtime) -> None:
    """Say loudly (log, /readyz, metric) when serve runs with no channel that can send messages."""
    from bot.observability.metrics import NO_DELIVERY_CHANNEL

    settings = runtime.app.settings
    missing = settings.telegram_token is None and not settings.rasa_url
    NO_DELIVERY_CHANNEL.set(1 if missing else 0)
    if missing:
        runtime.warnings["delivery"] = NO_DELIVERY
        log.warning("no_delivery_channel", detail=NO_DELIVERY)


def housekeeping(app: App, every: float = 300.0) -> Component:
    """Return the component running the periodic jobs: weekly summary, retention (comments, raw
    connector bodies).

    Each job claims its period in ``job_runs``, so with several workers it runs once.
    """
    from bot.runtime.jobs import retention_pass, weekly_summary_job

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = app.service.clock()
            try:
                await asyncio.to_thread(weekly_summary_job, app, now)
                await asyncio.to_thread(
                    retention_pass,
                    app.db,
                    now,
                    app.settings.comment_retention_months,
                    connector_days=app.settings.connector_body_retention_days,
                )
            except Exception:
                log.exception("housekeeping_failed")  # retried on the next tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    return run
