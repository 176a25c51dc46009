"""The in-process rate limiter keeps the sends that actually go spaced, even after a stalled loop."""

from __future__ import annotations

import asyncio
import itertools
import time

from bot.delivery.sender import MemoryRateLimiter


async def test_sends_woken_late_by_a_busy_loop_still_go_spaced() -> None:
    """Slots reserved before a 300 ms stall of the event loop do not all go at once after it."""
    limiter = MemoryRateLimiter(global_per_s=10, per_chat_interval=0.0, margin=0.0)
    started: list[float] = []

    async def send(chat: str) -> None:
        await limiter.acquire(chat, group=False)
        started.append(time.monotonic())

    tasks = [asyncio.create_task(send(f"chat-{i}")) for i in range(4)]
    await asyncio.sleep(0)  # every slot is reserved: 0, 100, 200, 300 ms
    time.sleep(0.3)  # noqa: ASYNC251 - the loop is blocked (a long synchronous step): the sleepers all wake late
    await asyncio.gather(*tasks)
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert len(gaps) == 3 and min(gaps) >= 0.095


async def test_one_chat_is_spaced_by_its_interval_after_a_stall() -> None:
    """Two messages to one chat go at least the per-chat interval apart, whatever the loop did."""
    limiter = MemoryRateLimiter(global_per_s=1000, per_chat_interval=0.2, margin=0.0)
    started: list[float] = []

    async def send() -> None:
        await limiter.acquire("42", group=False)
        started.append(time.monotonic())

    tasks = [asyncio.create_task(send()) for _ in range(3)]
    await asyncio.sleep(0)  # slots at 0, 200 and 400 ms
    time.sleep(0.45)  # noqa: ASYNC251 - the second and third wake together
    await asyncio.gather(*tasks)
    assert started[2] - started[1] >= 0.19


class _StallingClock:
    """Virtual seconds for one task's sleeps; every ``every``-th wake-up comes ``late`` seconds late."""

    def __init__(self, late: float, every: int) -> None:
        self.now = 0.0
        self.late, self.every, self.wakes = late, every, 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.wakes += 1
        self.now += max(0.0, seconds) + (self.late if self.wakes % self.every == 0 else 0.0)
        await asyncio.sleep(0)


def _most_in(times: list[float], window: float) -> int:
    """Largest number of ``times`` (ascending) within any half-open window of ``window`` seconds."""
    return max(sum(1 for u in times[i:] if u < t + window) for i, t in enumerate(times))


async def test_late_wake_ups_do_not_slow_every_later_send() -> None:
    """A loop waking 30 ms late every twentieth time still sends at ≥ 0.95 of the cap, and never
    more than 30 in any rolling second (when each late wake-up delayed all later sends: 0.93)."""
    clock = _StallingClock(late=0.03, every=20)
    limiter = MemoryRateLimiter(per_chat_interval=0.0, margin=0.03, monotonic=clock, sleep=clock.sleep)
    started: list[float] = []
    for i in range(300):
        await limiter.acquire(f"chat-{i}", group=False)
        started.append(clock.now)
    rate = (len(started) - 1) / (started[-1] - started[0])
    assert rate >= 0.95 * 30
    assert _most_in(started, 1.0) <= 30
    assert min(b - a for a, b in itertools.pairwise(started)) >= 1 / 30 / 1.03 - 1e-9
