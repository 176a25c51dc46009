"""The one outbox sender: every channel's messages are claimed, delivered and given their
outcome here, under one retry policy.

* A channel plugs in a ``Transport`` (below): it delivers one message and names
  a failure with the error tree only (``flows.errors``). Telegram (customers and the agents'
  group), python-telegram-bot, Rasa, the helpdesk webhook, e-mail, Chatwoot and the terminal
  all go through ``Sender``; none has a loop or a retry rule of its own.
* Order per chat holds: ``claim_outbox`` returns only the oldest pending message of each chat,
  and a chat's next message is claimed only once the previous one is sent or dead.
* What follows a failure: ``RetryAfter`` (429) puts just that message back for the time asked
  and tells the limiter to pause the chat (the wait is no attempt); ``Transient`` (5xx, network)
  is retried after the ``RetryPolicy``'s backoff (exponential, jittered, capped) until its
  attempts run out; ``Permanent`` and exhausted messages become dead letters; ``ChatBlocked``
  (403) too, and the channel identity is marked blocked with the chat's other pending messages
  (data kept). A dead letter is an outbox row with status ``failed`` and its ``dead_reason``
  (blocked, permanent, exhausted): counted in ``/metrics``, listed by ``cxbot status`` and
  ``/readyz``, put back by ``cxbot outbox retry-dead``. An exception a transport did not name is
  logged and treated as temporary, so it too ends retried or dead, never silently looping.
* Limits are spent at the call, not here (``bot.delivery.limited_calls``): a long text's every part, an
  edit, a callback answer each wait for their own slot. ``MemoryRateLimiter`` is per process;
  with several workers ``bot.delivery.rate_budget.DatabaseRateLimiter`` (same protocol) shares the budget.
* Outcomes are written by group commit (``storage.outcomes``): the outcomes of the deliveries
  that finish while a write is under way go together in the next transaction, so on SQLite the
  senders take the single write lock once per batch, not once per message. A message stays
  leased until its outcome is written, and its chat's next message is claimable only then.
  Nothing is lost and nothing is sent twice: a message is marked sent right after the channel
  accepted it.
* Never logs message texts or tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import structlog

from bot.infra.clock import Clock, utcnow
from bot.infra.group_commit import GroupCommit
from bot.infra.leader import WORKER_ID
from bot.infra.retry import MESSAGING, RetryPolicy
from bot.observability.metrics import DEAD_LETTERED, MESSAGES_SENT, SEND_ERRORS
from flows.errors import ChannelError, ChatBlocked, Permanent, RetryAfter, StorageError, Transient
from storage.claims import ClaimedMessage, claim_outbox
from storage.db import Database
from storage.outcomes import Outcome, record_outcomes

log = structlog.get_logger(__name__)

OWNER = f"{WORKER_ID}:sender"
#: Payload key a transport sets (in ``message.payload``) to the number of parts already delivered.
PROGRESS = "parts_sent"

#: Why a message became a dead letter (``outbox.dead_reason``).
BLOCKED, PERMANENT, EXHAUSTED = "blocked", "permanent", "exhausted"


class Transport(Protocol):
    """Delivers one outbox message of a channel."""

    async def deliver(self, message: ClaimedMessage) -> dict[str, Any] | None:
        """Deliver ``message``; return fields to merge into its stored payload (e.g. message ids).

        Raises (nothing else: the sender treats anything else as a bug, retried then dead):
            ChatBlocked: the recipient blocked the bot.
            RetryAfter: flood control; try again after ``retry_after`` seconds.
            Permanent: can never succeed as it is.
            Transient: worth trying again later.
        """
        ...


def http_failure(status: int, message: str, *, retry_after: str | None = None) -> ChannelError:
    """Return the error, saying ``message``, for an HTTP answer that is not a success (every
    transport on HTTP).

    429 with a ``Retry-After`` in seconds → ``RetryAfter``; 408, 429 without one and 5xx →
    ``Transient``; any other status (4xx, a 3xx nobody follows) → ``Permanent``.
    """
    if status == 429 and retry_after is not None and retry_after.strip().isdigit():
        return RetryAfter(message, float(retry_after))
    if status in (408, 429) or status >= 500:
        return Transient(message)
    return Permanent(message)


def network_failure(exc: BaseException, message: str) -> Transient:
    """Return the error for an HTTP request that got no answer (refused, reset, timed out):
    ``message`` followed by the exception's type."""
    return Transient(f"{message}: {type(exc).__name__}")


class RateLimiter(Protocol):
    """Spaces sends; shared by every sender task of a process (or, later, of all workers)."""

    async def acquire(self, address: str, *, group: bool) -> None:
        """Wait until one more message may go to ``address``."""
        ...

    def pause(self, address: str, seconds: float) -> None:
        """Send nothing to ``address`` for ``seconds`` (after a 429)."""
        ...


class Unlimited:
    """A limiter that never waits (channels without rate limits): the sender's default."""

    async def acquire(self, address: str, *, group: bool) -> None:
        """Let the call through at once."""

    def pause(self, address: str, seconds: float) -> None:
        """Nothing to pause: the message itself waits ``seconds`` in the outbox."""


class MemoryRateLimiter:
    """In-process limiter: global and per-chat spacing (a token bucket of burst 1) plus group windows.

    Slots are planned ``global_interval`` apart, each from the previous *planned* slot (so one
    late wake-up does not push every later slot). The sends that actually go are held to two
    rules on their real start times, which keep every rolling second under Telegram's limit:

    * at most ``floor(global_per_s)`` starts in any ``window`` (that many planned intervals,
      ``1 + margin`` seconds: the margin absorbs the requests' jitter on the way);
    * no two starts closer than ``1 / (global_per_s * (1 + margin))``: after a late wake-up the
      sends catch up only a little faster than the cap, never in a burst.

    A late send therefore costs the next ones nothing unless the window is full, and the rate
    over a run is the planned one less at most the single longest stall.
    """

    def __init__(
        self,
        *,
        global_per_s: float = 30.0,  # Telegram's ~30/s; spacing (not bursts) plus the margin keeps us under
        per_chat_interval: float = 1.0,
        per_group_per_min: int = 20,
        margin: float = 0.04,  # 40 ms for the requests' jitter on their way (rolling window)
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.global_interval = (1.0 + margin) / global_per_s
        self.burst_interval = 1.0 / (global_per_s * (1.0 + margin))
        self.window_limit = max(1, int(global_per_s))
        self.window = self.window_limit * self.global_interval
        self.per_chat_interval = per_chat_interval * (1.0 + margin)
        self.group_limit = per_group_per_min
        self.group_window = 60.0 * (1.0 + margin)
        self._monotonic = monotonic
        self._sleep = sleep
        self._global_next = 0.0
        self._chat_next: dict[str, float] = {}
        self._starts: deque[float] = deque(maxlen=self.window_limit)  # real starts, newest last
        self._chat_last_start: dict[str, float] = {}
        self._groups: dict[str, deque[float]] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, address: str, *, group: bool) -> None:
        """Reserve the next slot for ``address`` and sleep until it comes."""
        async with self._lock:
            now = self._monotonic()
            # Planned from the previous planned slot, even one a stall left behind (up to a
            # window ago): the real starts then catch up, held by the rules of ``_space``.
            at = max(self._chat_next.get(address, 0.0), self._global_next, now - self.window)
            if group:  # a group's minute is counted on planned slots: never one in the past
                at = max(at, now)
                window = self._groups.setdefault(address, deque())
                while window and at - window[0] >= self.group_window:
                    window.popleft()
                if len(window) >= self.group_limit:
                    at = max(at, window[-self.group_limit] + self.group_window)
            self._global_next = at + self.global_interval
            if address:  # "" counts only against the bot's rate (a callback answer, an edit)
                self._chat_next[address] = at + self.per_chat_interval
            if group:
                self._groups[address].append(at)
            if len(self._chat_next) > 10_000:  # forget chats idle for long
                self._chat_next = {a: t for a, t in self._chat_next.items() if t > now}
        delay = at - self._monotonic()
        if delay > 0:
            await self._sleep(delay)
        await self._space(address)

    async def _space(self, address: str) -> None:
        """Hold the send until the starts that actually went allow it (see the class docstring).

        A busy event loop wakes sleepers late, and late ones would then go out together with
        those on time: Telegram counts what arrives, so real start times are checked, not slots.
        """
        while True:
            async with self._lock:
                now = self._monotonic()
                starts = self._starts
                ready = max(
                    starts[-1] + self.burst_interval if starts else now,
                    starts[0] + self.window if len(starts) == self.window_limit else now,
                    self._chat_last_start.get(address, -1e9) + self.per_chat_interval,
                )
                if ready <= now:
                    starts.append(now)
                    if address:
                        self._chat_last_start[address] = now
                    if len(self._chat_last_start) > 10_000:  # forget chats idle for long
                        horizon = now - self.per_chat_interval
                        self._chat_last_start = {
                            a: t for a, t in self._chat_last_start.items() if t > horizon
                        }
                    return
            await self._sleep(ready - now)

    def pause(self, address: str, seconds: float) -> None:
        """Push the chat's next slot ``seconds`` ahead."""
        until = self._monotonic() + seconds
        self._chat_next[address] = max(self._chat_next.get(address, 0.0), until)


@dataclass
class SenderConfig:
    """Sender tuning; tests shorten the intervals."""

    batch: int = 50
    concurrency: int = 30
    idle_interval: float = 0.5
    lease: timedelta = timedelta(seconds=60)
    retry: RetryPolicy = MESSAGING


class Sender:
    """Delivers one channel's outbox through its transport: ``run(stop)`` until stopped,
    ``drain()`` what is due now, or ``send_once()`` one batch.

    ``limiter``, when given, is told to pause a chat after flood control (the calls themselves
    wait for it: see ``bot.delivery.limited_calls``).
    """

    def __init__(
        self,
        db: Database,
        channel: str,
        transport: Transport,
        limiter: RateLimiter | None = None,
        *,
        clock: Clock = utcnow,
        config: SenderConfig | None = None,
        owner: str = OWNER,
    ) -> None:
        self.db = db
        self.channel = channel
        self.transport = transport
        self.limiter: RateLimiter = limiter or Unlimited()
        self.clock = clock
        self.config = config or SenderConfig()
        self.owner = owner
        self.wake = asyncio.Event()
        #: Called (in a worker thread) with a message that will never be delivered and why
        #: ("blocked" or "failed"), once its outcome is recorded: e.g. to tell the agents.
        self.on_undeliverable: Callable[[ClaimedMessage, str], None] | None = None
        #: Outcomes waiting for the next group commit, each with the future its delivery awaits.
        # Until its outcome is written a message stays leased: if the process dies first, it is
        # sent again after its lease, so a crash repeats at most the messages in flight.
        self._outcomes = GroupCommit(self._write, name=f"sender-outcomes-{channel}", on_written=self.wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set.

        Claims as many messages as there are free slots, each delivered in its own task; when one
        finishes, that chat's next message becomes claimable at once (no waiting for a whole batch).
        """
        inflight: set[asyncio.Task[str | None]] = set()
        try:
            while not stop.is_set():
                self.wake.clear()
                free = min(self.config.batch, self.config.concurrency - len(inflight))
                claimed: list[ClaimedMessage] = []
                if free > 0:
                    try:
                        claimed = await self._claim(free)
                    except Exception:
                        log.exception("sender_claim_failed", channel=self.channel)
                for message in claimed:
                    task = asyncio.create_task(self._deliver(message))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                if claimed and free == len(claimed):
                    continue  # maybe more waiting
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, self.wake), self.config.idle_interval)
        finally:
            if inflight:  # let deliveries under way finish and record their outcome
                await asyncio.wait(inflight, timeout=self.config.lease.total_seconds())

    async def _claim(self, limit: int) -> list[ClaimedMessage]:
        return await asyncio.to_thread(
            claim_outbox,
            self.db,
            self.owner,
            self.clock(),
            channels=(self.channel,),
            limit=limit,
            lease=self.config.lease,
        )

    async def send_once(self) -> int:
        """Claim one batch, deliver it and wait for the outcome; return how many were handled."""
        claimed = await self._claim(self.config.batch)
        if claimed:
            await asyncio.gather(*(self._deliver(message) for message in claimed))
        return len(claimed)

    async def send_batch(self) -> dict[str, int]:
        """Claim one batch (a chat's oldest message each), deliver it; return how many ended each
        way (sent, retry, failed, blocked)."""
        claimed = await self._claim(self.config.batch)
        statuses = await asyncio.gather(*(self._deliver(message) for message in claimed))
        return dict(Counter(status for status in statuses if status is not None))

    async def drain(self) -> dict[str, int]:
        """Deliver what is due now, batch after batch; return how many ended each way.

        Stops when nothing is claimable, or when a batch was only put back for later (what is
        left waits for a retry).
        """
        counts: Counter[str] = Counter()
        while batch := await self.send_batch():
            counts.update(batch)
            if not batch.keys() & {"sent", "failed", "blocked"}:
                break
        return dict(counts)

    async def _deliver(self, message: ClaimedMessage) -> str | None:
        """Deliver ``message`` and record its outcome; return the status recorded (None: not)."""
        try:
            try:
                updates = await self.transport.deliver(message)
            except ChannelError as exc:
                outcome = self._unsent(message, exc)
            except Exception as exc:  # not named by the transport: a temporary failure, so it ends
                log.exception("delivery_failed", channel=self.channel, message_id=message.id)
                outcome = self._unsent(message, Transient(f"unexpected {type(exc).__name__}"))
            else:
                outcome = self._sent(message, updates)
            if not await self._outcomes.submit(outcome):
                return None  # the lease runs out and the message is claimed again
            self._count(outcome)
            if outcome.status in ("blocked", "failed") and self.on_undeliverable is not None:
                try:
                    await asyncio.to_thread(self.on_undeliverable, message, outcome.status)
                except Exception:  # telling is best effort; the outcome itself is recorded
                    log.exception("undeliverable_hook_failed", channel=self.channel, message_id=message.id)
            return outcome.status
        except Exception:  # the lease runs out and the message is claimed again
            log.exception("outcome_failed", channel=self.channel, message_id=message.id)
            return None
        finally:
            self.wake.set()  # a delivery slot is free

    def _sent(self, message: ClaimedMessage, updates: dict[str, Any] | None) -> Outcome:
        survey_id = message.payload.get("survey_id")
        return Outcome(
            message.id,
            self.clock(),
            "sent",
            payload={**message.payload, **updates} if updates else None,
            survey_id=survey_id if isinstance(survey_id, int) and message.kind == "message" else None,
        )

    def _unsent(self, message: ClaimedMessage, exc: ChannelError) -> Outcome:
        now = self.clock()
        error = str(exc)
        # A long text that went out in part keeps its count of parts sent (see the transport).
        progress = dict(message.payload) if message.payload.get(PROGRESS) else None
        if isinstance(exc, ChatBlocked):
            log.info("chat_blocked", channel=self.channel, message_id=message.id)
            return Outcome(
                message.id,
                now,
                "blocked",
                error=error if error.startswith(BLOCKED) else f"{BLOCKED}: {error}",
                channel=self.channel,
                address=message.address,
                reason=BLOCKED,
            )
        if exc.retry_after is not None:
            self.limiter.pause(message.address, exc.retry_after)  # at once, not after the write
            log.info("flood_wait", channel=self.channel, message_id=message.id, retry_after=exc.retry_after)
            retry_at = now + timedelta(seconds=exc.retry_after)
            return Outcome(message.id, now, "retry", progress, error, retry_at=retry_at, flood=True)
        delay = None if exc.permanent else self.config.retry.delay(message.attempts)
        if delay is None:
            reason = PERMANENT if exc.permanent else EXHAUSTED
            log.warning(
                "dead_letter", channel=self.channel, message_id=message.id, reason=reason, error=error
            )
            return Outcome(message.id, now, "failed", progress, error, reason=reason)
        log.info("message_retry", channel=self.channel, message_id=message.id, delay=round(delay, 3))
        return Outcome(message.id, now, "retry", progress, error, retry_at=now + timedelta(seconds=delay))

    def _count(self, outcome: Outcome) -> None:
        if outcome.status == "sent":
            MESSAGES_SENT.labels(self.channel).inc()
            return
        kind = "retry_after" if outcome.flood else outcome.reason or "transient"
        SEND_ERRORS.labels(self.channel, kind).inc()
        if outcome.reason is not None:
            DEAD_LETTERED.labels(self.channel, outcome.reason).inc()

    def _write(self, outcomes: list[Outcome]) -> list[bool]:
        """Record ``outcomes`` in one transaction; return, for each, whether it was recorded."""
        try:
            record_outcomes(self.db, outcomes)
            return [True] * len(outcomes)
        except Exception as exc:
            if isinstance(exc, StorageError) or len(outcomes) == 1:
                log.exception("outcomes_not_recorded", channel=self.channel, count=len(outcomes))
                return [False] * len(outcomes)
        # Not the database failing but one row (say, a payload JSON cannot hold): record the
        # others alone, so they are not sent again when their leases run out.
        return [self._write([outcome])[0] for outcome in outcomes]


async def _first(*events: asyncio.Event) -> None:
    """Return when any of ``events`` is set."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
