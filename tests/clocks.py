"""The test suite's time line: pinned, never the wall clock.

Every test process (and every worker subprocess a test starts) reads time as
``PINNED_START + (monotonic now - monotonic at session start)``: real durations (leases, sleeps)
still pass, but the date and hour are fixed, so no test depends on when the suite runs.
``CXBOT_TEST_CLOCK`` (ISO time with offset) picks another start, e.g. to run the whole suite at
03:00 and at 14:00 Europe/Rome.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

#: Wednesday 2026-11-18 11:00 Europe/Rome: inside every sending window.
DEFAULT_START = "2026-11-18T10:00:00+00:00"

_START_ENV = "CXBOT_TEST_CLOCK"
_MONO_ENV = "CXBOT_TEST_CLOCK_MONOTONIC"


class RunningClock:
    """Real elapsed time on a pinned start (consistent across processes: CLOCK_MONOTONIC)."""

    def __init__(self, start: datetime, monotonic_origin: float | None = None) -> None:
        self.start = start.astimezone(UTC)
        self.origin = time.monotonic() if monotonic_origin is None else monotonic_origin

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.origin)


#: Tuesday 2026-11-17 11:00 Europe/Rome: inside the sending window and business hours.
TUESDAY_MORNING = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


def tuesday_morning() -> RunningClock:
    """A running clock from Tuesday morning (end-to-end tests of surveys and the agents' desk)."""
    return RunningClock(TUESDAY_MORNING)


def session_clock() -> RunningClock:
    """Return this process's clock: the parent's time line when started by a test, else a new one."""
    start = datetime.fromisoformat(os.environ.get(_START_ENV) or DEFAULT_START)
    origin = os.environ.get(_MONO_ENV)
    clock = RunningClock(start, float(origin) if origin else None)
    # Subprocesses inherit the same start and origin, hence the same time line.
    os.environ[_START_ENV] = start.isoformat()
    os.environ[_MONO_ENV] = repr(clock.origin)
    return clock


def install() -> RunningClock:
    """Make ``bot.infra.clock.utcnow`` read the session clock in this process; return it."""
    from bot.infra.clock import use_wall_clock

    clock = session_clock()
    use_wall_clock(clock)
    return clock


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)`` and return the new time."""
        self.now += timedelta(**delta)
        return self.now
