"""The outbound budget shared through the database: two limiters never exceed Telegram's limits together."""

from __future__ import annotations

import asyncio
import bisect
import random
from collections import defaultdict

import pytest

from bot.delivery.rate_budget import DatabaseRateLimiter, shares_budget
from flows.errors import ChannelError
from storage.db import Database
from storage.send_budget import SlotRequest

GROUPS = ("-1001", "-1002")
CHATS = tuple(str(700 + i) for i in range(40))
START = 1_800_000_000.0  # Unix seconds: the limiters read only the injected clock


class VirtualClock:
    """Seconds that move only when told; ``sleep`` moves them (``late``: the next wake-up is late)."""

    def __init__(self) -> None:
        self.now = START
        self.late = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds) + self.late
        self.late = 0.0
        await asyncio.sleep(0)


def _max_in(times: list[float], window: float) -> int:
    """Largest number of ``times`` within any half-open window of ``window`` seconds."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0)


def _limiter(db: Database, clock: VirtualClock, owner: str) -> DatabaseRateLimiter:
    return DatabaseRateLimiter(db, owner=owner, clock=clock, sleep=clock.sleep)


def test_two_limiters_on_one_database_never_grant_more_than_the_budget(db: Database) -> None:
    """Two workers booking slots at random for 40 chats, 2 groups and chat-less calls stay within
    30 per second overall, 1 per second per chat and 20 per minute per group, in every window."""
    clock = VirtualClock()
    workers = [_limiter(db, clock, "worker-a"), _limiter(db, clock, "worker-b")]
    rng = random.Random(20)
    booked: list[float] = []
    per_chat: dict[str, list[float]] = defaultdict(list)
    for _ in range(400):
        worker = rng.choice(workers)
        requests = []
        for _ in range(rng.randint(1, 6)):
            address = rng.choice((*CHATS, *GROUPS, "", ""))
            group = address.startswith("-")  # a group may wait beyond its minute here
            requests.append(SlotRequest(address, group, 200.0 if group else worker.max_wait))
        for request, grant in zip(requests, worker._grant(requests), strict=True):
            if grant.booked:
                booked.append(grant.at)
                if request.address:
                    per_chat[request.address].append(grant.at)
        clock.now += rng.uniform(0.0, 0.03)
    busy = clock.now - START  # demand outran the budget all along: the bound is tight
    assert sum(1 for t in booked if t < clock.now) >= 0.9 * 30 * busy
    assert _max_in(booked, 1.0) <= 30
    assert max(_max_in(times, 1.0) for times in per_chat.values()) == 1
    assert max(_max_in(per_chat[group], 60.0) for group in GROUPS) <= 20
    assert max(len(per_chat[group]) for group in GROUPS) > 20  # the minute's limit was reached


def test_a_pause_in_one_worker_holds_the_chat_in_the_other(sqlite_db: Database) -> None:
    """After a 429 in worker A (retry after 30 s), worker B's next slot for that chat is 30 s on."""
    clock = VirtualClock()
    a, b = _limiter(sqlite_db, clock, "worker-a"), _limiter(sqlite_db, clock, "worker-b")
    a.pause("42", 30.0)
    a._grant([SlotRequest("", False, a.max_wait)])  # the pause goes out with A's next batch
    (grant,) = b._grant([SlotRequest("42", False, 60.0)])
    assert grant.booked and grant.at >= START + 30.0


async def test_a_slot_far_ahead_is_not_waited_for_but_put_back(sqlite_db: Database) -> None:
    """When a chat's next slot is beyond ``max_wait``, acquire raises a flood wait and books nothing."""
    clock = VirtualClock()
    limiter = DatabaseRateLimiter(
        sqlite_db, per_group_per_min=2, max_wait=5.0, clock=clock, sleep=clock.sleep
    )
    await limiter.acquire("-100", group=True)
    await limiter.acquire("-100", group=True)
    with pytest.raises(ChannelError) as raised:
        await limiter.acquire("-100", group=True)
    assert raised.value.retry_after is not None and raised.value.retry_after > 50
    before = clock.now
    await limiter.acquire("555", group=False)  # the bot's schedule was not pushed by the refusal
    assert clock.now - before < 0.1


async def test_a_slot_woken_for_too_late_is_booked_again(sqlite_db: Database) -> None:
    """A stalled loop that wakes 100 ms after the slot does not send late: it books a new slot."""
    clock = VirtualClock()
    limiter = _limiter(sqlite_db, clock, "worker-a")
    await limiter.acquire("1", group=False)
    clock.late = 0.1  # the next wake-up comes 100 ms late
    await limiter.acquire("2", group=False)
    assert limiter.missed == 1


def test_the_budget_is_shared_on_postgresql_and_kept_per_process_on_sqlite() -> None:
    """'auto' shares the budget through PostgreSQL; the setting can force either way."""
    assert shares_budget("postgresql://x@h/db", "auto")
    assert not shares_budget("sqlite:///cxbot.db", "auto")
    assert shares_budget("sqlite:///cxbot.db", "database")
    assert not shares_budget("postgresql://x@h/db", "memory")
