"""Run a component on one worker only: the holder of a leader lease (storage.leases).

``lead(...)`` wraps a component (e.g. the Telegram poller: Telegram allows one ``getUpdates``
client per bot) so that every worker runs the wrapper, but only the lease holder runs the
component. The holder renews every ``renew_every``; the others try as often and take over once
the lease has expired, i.e. within ``ttl + renew_every`` after the holder died (even by kill -9).
A holder that cannot renew (database down) stops the component before its lease can expire, so
two workers never run it at once. A clean stop releases the lease for an immediate hand-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import structlog

from bot.infra.clock import Clock
from storage import leases
from storage.db import Database

log = structlog.get_logger(__name__)

Component = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

#: How long a lease lasts without renewal, and how often it is renewed (or tried by standbys).
DEFAULT_TTL = timedelta(seconds=5)
DEFAULT_RENEW_EVERY = 1.0


#: This process as the owner of leased rows (timers, outbox messages, send slots): host and pid.
#: At most 48 characters, so a role (``f"{WORKER_ID}:sender"``) fits the 64-character owner columns.
WORKER_ID = f"{socket.gethostname()[:40]}:{os.getpid()}"


def worker_id() -> str:
    """Return this process's holder name: host, pid and a random part (pids are reused)."""
    return f"{WORKER_ID}:{uuid.uuid4().hex[:8]}"


def lead(
    db: Database,
    name: str,
    component: Component,
    clock: Clock,
    *,
    holder: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
    renew_every: float = DEFAULT_RENEW_EVERY,
) -> Component:
    """Return a component that runs ``component`` only while this worker holds the lease ``name``."""
    me = holder or worker_id()

    async def run(stop: asyncio.Event) -> None:
        task: asyncio.Task[None] | None = None
        inner = asyncio.Event()
        held_until = clock()

        async def stop_component(reason: str) -> None:
            nonlocal task
            if task is None:
                return
            inner.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=renew_every * 2)
            if not task.done():
                task.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task
            task = None
            log.warning("leader_lost", lease=name, holder=me, reason=reason)

        try:
            while not stop.is_set():
                now = clock()
                try:
                    held = await asyncio.to_thread(leases.try_lead, db, name, me, now, ttl)
                except Exception as exc:  # the database is down: keep leading only while our lease lasts
                    log.warning("leader_renew_failed", lease=name, error=str(exc))
                    held = task is not None and clock() + timedelta(seconds=renew_every) < held_until
                else:
                    if held:
                        held_until = now + ttl
                if held and task is None:
                    inner = asyncio.Event()
                    task = asyncio.create_task(component(inner), name=f"lead:{name}")
                    log.info("leader_elected", lease=name, holder=me)
                elif held and task is not None and task.done():
                    # The component ended on its own (it should not): run it again next round.
                    error = task.exception() if not task.cancelled() else None
                    log.error("led_component_ended", lease=name, error=repr(error))
                    task = None
                elif not held and task is not None:
                    await stop_component("lease not renewed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=renew_every)
        finally:
            if task is not None:
                await stop_component("stopping")
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(leases.release, db, name, me)

    return run
