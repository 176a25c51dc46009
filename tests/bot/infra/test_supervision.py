"""Supervised tasks restart after the one shared backoff rule, and never give up."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from bot.infra.retry import RESTART, RetryPolicy
from bot.infra.supervision import Supervisor


async def test_a_crashing_task_restarts_after_the_policys_waits_and_shows_in_checks() -> None:
    """Each crash is logged once with the policy's wait (doubling to the cap); the streak shows in checks."""
    crashes = 0
    stop = asyncio.Event()

    async def flaky(stop_event: asyncio.Event) -> None:
        nonlocal crashes
        crashes += 1
        if crashes == 5:
            stop_event.set()
            return
        raise RuntimeError("boom")

    supervisor = Supervisor(restart=RetryPolicy(base=0.001, cap=0.004, jitter=0.0, max_attempts=None))
    with capture_logs() as logs:
        await supervisor.run("flaky", flaky, stop)
    waits = [entry["restart_in"] for entry in logs if entry["event"] == "task_crashed"]
    assert waits == [0.001, 0.002, 0.004, 0.004]
    assert all(entry["error"] == "RuntimeError: boom" for entry in logs if entry["event"] == "task_crashed")
    assert supervisor.checks()["task:flaky"].startswith("failing: 4 crashes in a row, last: RuntimeError")


def test_restarting_never_runs_out_of_attempts() -> None:
    """RESTART (tasks, the Telegram channel's start-up) waits at most a minute and never gives up."""
    assert RESTART.max_attempts is None
    assert all(RESTART.wait(n) <= 60.0 for n in (1, 10, 1_000, 10**6))
    assert RESTART.delay(10**6) is not None
