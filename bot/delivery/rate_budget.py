"""The outbound budget shared by several workers: Telegram's limits counted in the database.

``MemoryRateLimiter`` (bot.delivery.sender) spaces the sends of one process. With N workers, each would
need a guessed share of the bot's 30 messages/s; ``DatabaseRateLimiter`` instead books every
send's slot in the ``send_budget`` table (storage.send_budget), so the workers together keep to
the bot's rate, each chat's 1/s and each group's 20/min, whatever their number and load.

* Same interface as ``MemoryRateLimiter`` (``acquire``/``pause``): the callers do not change.
* The requests waiting in one process are granted together, one short transaction per batch
  (group commit), so the database sees a few transactions a second, not one per message.
* A slot is a time: the caller sleeps until it, then sends. A send that would leave more than
  ``tolerance`` after its slot (a stalled event loop) is not made: a new slot is booked, since a
  late send could fall in the same second as another worker's on-time ones. With slots spaced
  ``(1 + margin)`` apart and ``tolerance`` below ``margin`` seconds (the rest covers the jitter
  of the request on its way), no one-second window of arrivals holds more than the limit.
  Within a process the sends that actually leave are kept spaced too (as MemoryRateLimiter does).
* A slot further than ``max_wait`` ahead (a full group minute, a paused chat) is not booked:
  ``acquire`` raises a flood-control ``ChannelError`` with ``retry_after``, and the sender puts
  the message back for then instead of holding its lease while waiting (a wait is not a
  delivery attempt).
* ``pause`` (after a 429) is written to the database with the next batch, and held locally at once.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable

import structlog

from bot.infra.group_commit import GroupCommit
from bot.infra.leader import WORKER_ID
from flows.errors import ChannelError, StorageError
from storage.db import Database
from storage.send_budget import Budget, Grant, SlotRequest, forget_idle, grant_slots

log = structlog.get_logger(__name__)

#: How often (seconds) a limiter deletes the rows of chats idle since then.
FORGET_EVERY = 300.0
#: Bounds of how far ahead slots start (twice the recent grant round trip).
MIN_LEAD, MAX_LEAD = 0.01, 0.25


class DatabaseRateLimiter:
    """Spaces the sends of every worker on one database; see the module docstring.

    ``address`` "" is a call without a chat of its own (a callback answer, an edit in a private
    chat): it counts only against the bot's rate.
    """

    def __init__(
        self,
        db: Database,
        *,
        global_per_s: float = 30.0,
        per_chat_interval: float = 1.0,
        per_group_per_min: int = 20,
        margin: float = 0.05,
        tolerance: float = 0.02,
        handoff: float = 0.0,
        max_wait: float = 20.0,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.budget = Budget(
            global_interval=(1.0 + margin) / global_per_s,
            chat_interval=per_chat_interval * (1.0 + margin),
            group_limit=per_group_per_min,
            group_window=60.0 * (1.0 + margin),
            handoff=handoff,
        )
        self.tolerance = tolerance
        self.max_wait = max_wait
        self.owner = (owner or f"{WORKER_ID}:budget")[:64]
        self._clock = clock
        self._sleep = sleep
        self._pauses: dict[str, float] = {}  # address -> until; also held locally
        self._unwritten: dict[str, float] = {}  # pauses for the next grant transaction
        self._unwritten_lock = threading.Lock()  # pause() on the loop, _grant() in a thread
        self._grants = GroupCommit(self._grant, name="send-budget")
        self._forget_at = clock() + FORGET_EVERY
        self._last_start = 0.0  # when this process's last send went
        self._chat_last_start: dict[str, float] = {}
        self._round_trip = MIN_LEAD  # seconds from asking for a slot to having it (moving average)
        #: Slots booked but let go because the process woke too late for them.
        self.missed = 0

    async def acquire(self, address: str, *, group: bool) -> None:
        """Book the next slot for ``address`` and sleep until it comes.

        Raises:
            ChannelError: ``retry_after`` set, when the next slot is more than ``max_wait`` ahead.
        """
        request = SlotRequest(address, group, self.max_wait)
        while True:
            paused = self._pauses.get(address, 0.0) - self._clock() if address else 0.0
            if paused > self.max_wait:
                raise ChannelError("outbound budget: chat paused", retry_after=float(math.ceil(paused)))
            if paused > 0:
                await self._sleep(paused)
            asked = self._clock()
            try:
                grant: Grant = await self._grants.submit(request)
            except StorageError as exc:  # a temporary failure: the message is retried with backoff
                raise ChannelError(f"outbound budget unavailable: {exc}") from exc
            self._round_trip += (self._clock() - asked - self._round_trip) / 8
            if not grant.booked:
                wait = max(1.0, grant.at - self._clock())
                raise ChannelError("outbound budget: no slot soon", retry_after=float(math.ceil(wait)))
            delay = grant.at - self._clock()
            if delay > 0:
                await self._sleep(delay)
            # This process's own sends stay spaced even when its loop wakes them together.
            spaced = max(
                self._last_start + self.budget.global_interval,
                self._chat_last_start.get(address, 0.0) + self.budget.chat_interval if address else 0.0,
            )
            if spaced > self._clock():
                await self._sleep(spaced - self._clock())
            now = self._clock()
            if now - grant.at <= self.tolerance:
                self._last_start = now
                if address:
                    self._chat_last_start[address] = now
                return
            self.missed += 1  # woke too late: this slot's send could crowd another worker's second
            log.debug("send_slot_missed", late=round(now - grant.at, 3))

    def pause(self, address: str, seconds: float) -> None:
        """Send nothing to ``address`` for ``seconds`` (after a 429), in every worker."""
        until = self._clock() + seconds
        self._pauses[address] = max(self._pauses.get(address, 0.0), until)
        with self._unwritten_lock:
            self._unwritten[address] = self._pauses[address]

    def _grant(self, requests: list[SlotRequest]) -> list[Grant]:
        """Run in a thread by the group commit: one transaction for the waiting requests."""
        with self._unwritten_lock:
            pauses, self._unwritten = list(self._unwritten.items()), {}
        now = self._clock()
        # Slots start a little ahead: a slot granted for "now" would be stale by the time the
        # grant reaches the waiting task, and be let go as missed.
        lead = min(MAX_LEAD, max(MIN_LEAD, 2 * self._round_trip))
        try:
            grants = grant_slots(self.db, self.owner, now + lead, self.budget, requests, pauses)
        except Exception:
            with self._unwritten_lock:  # written with the next batch
                for address, until in pauses:
                    self._unwritten[address] = max(self._unwritten.get(address, 0.0), until)
            raise
        if now >= self._forget_at:
            self._forget_at = now + FORGET_EVERY
            self._pauses = {a: t for a, t in self._pauses.items() if t > now}
            horizon = now - self.budget.chat_interval
            self._chat_last_start = {a: t for a, t in self._chat_last_start.items() if t > horizon}
            forget_idle(self.db, now - FORGET_EVERY)
        return grants


def shares_budget(database_url: str, setting: str) -> bool:
    """Return whether the outbound budget lives in the database.

    ``setting`` is CXBOT_OUTBOUND_BUDGET: "database", "memory", or "auto" (the database on
    PostgreSQL, where several workers may run; in memory on SQLite's single worker).
    """
    if setting == "auto":
        return database_url.startswith("postgres")
    return setting == "database"
