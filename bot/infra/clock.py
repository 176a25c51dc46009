"""The one place the runtime reads the clock (flows/ only ever receives ``now``).

The wall clock is replaceable (``use_wall_clock``) so that simulations and the test suite can run
the whole process, subprocess workers included, on a pinned time line: nothing then depends on the
hour at which it happens to run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def _system_clock() -> datetime:
    return datetime.now(UTC)


_wall: Clock = _system_clock


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return _wall()


def use_wall_clock(source: Clock | None) -> Clock:
    """Make ``utcnow`` read ``source`` (``None``: the system clock again); return the previous one."""
    global _wall
    previous, _wall = _wall, (source or _system_clock)
    return previous
