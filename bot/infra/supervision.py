"""Supervised long-running tasks: nothing of ``cxbot serve`` dies quietly.

Every long-running part (a channel's poller, inbox processor and sender, the escalation timers,
housekeeping…) runs under ``Supervisor.run``: an unexpected exception (or an early return) is
logged once with the task's name, counted in ``cxbot_task_restarts_total``, and the task starts
again after the ``RESTART`` backoff (``bot.infra.retry``). A task that keeps failing
(``failing_after`` crashes in a row, none of its runs lasting ``healthy_after`` seconds) shows
in ``/readyz`` as ``task:<name>`` with the reason, and readiness answers 503 until it has run well again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from bot.infra.retry import RESTART, RetryPolicy
from bot.observability.metrics import TASK_RESTARTS

log = structlog.get_logger(__name__)

#: A long-running part of the service, run until the event is set.
Component = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class _Health:
    failures: int = 0
    last_error: str | None = None
    running_since: float | None = None


@dataclass
class Supervisor:
    """Runs components, restarting them with backoff; keeps each one's health for /readyz."""

    restart: RetryPolicy = RESTART
    failing_after: int = 3
    healthy_after: float = 60.0
    monotonic: Callable[[], float] = time.monotonic
    _health: dict[str, _Health] = field(default_factory=dict)

    async def run(self, name: str, component: Component, stop: asyncio.Event) -> None:
        """Run ``component`` until ``stop`` is set, restarting it whenever it ends early."""
        health = self._health.setdefault(name, _Health())
        while not stop.is_set():
            started = health.running_since = self.monotonic()
            try:
                await component(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:200]
            else:
                if stop.is_set():
                    return
                error = "returned before shutdown"
            if self.monotonic() - started >= self.healthy_after:
                health.failures = 0  # it had been running well: a fresh streak
            health.failures += 1
            health.last_error = error
            health.running_since = None
            TASK_RESTARTS.labels(name).inc()
            delay = self.restart.wait(health.failures)
            log.error("task_crashed", task=name, error=error, failures=health.failures, restart_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    def healthy(self, name: str) -> None:
        """Mark ``name`` as working (e.g. after a successful pass): its failure streak ends."""
        health = self._health.get(name)
        if health is not None:
            health.failures = 0

    def checks(self) -> dict[str, str]:
        """Return ``{"task:<name>": "ok" or why not}`` for every supervised task."""
        return {f"task:{name}": self._check(h) for name, h in self._health.items()}

    def _check(self, health: _Health) -> str:
        running = health.running_since
        if running is not None and self.monotonic() - running >= self.healthy_after:
            return "ok"  # crashed before, but has been running well since
        if health.failures >= self.failing_after:
            return f"failing: {health.failures} crashes in a row, last: {health.last_error}"
        return "ok"


def name_of(component: Component) -> str:
    """A readable name for a component: ``TelegramChannel.run``, ``housekeeping``…"""
    name = str(getattr(component, "__qualname__", type(component).__name__))
    return name.split(".<locals>.", 1)[0]
