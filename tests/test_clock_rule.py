"""The suite never reads the wall clock: a test's outcome cannot depend on the hour it runs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from bot.infra.clock import utcnow
from tests.clocks import RunningClock

TESTS = Path(__file__).resolve().parent
WALL_CLOCK = re.compile(r"\b(datetime\.(now|utcnow|today)|date\.today|time\.time)\(")
ALLOWED = {TESTS / "clocks.py"}


def test_no_test_module_reads_the_wall_clock() -> None:
    """No file under tests/ calls datetime.now(), date.today() or time.time() directly."""
    offenders = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path not in ALLOWED
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WALL_CLOCK.search(line) and not line.lstrip().startswith(('"""', "#"))
    ]
    assert offenders == []


def test_the_process_clock_is_the_pinned_time_line(session_clock: RunningClock) -> None:
    """``bot.infra.clock.utcnow`` (every default clock of the runtime) reads the suite's pinned clock."""
    now = utcnow()
    assert session_clock.start <= now < session_clock.start + timedelta(hours=12)
    assert abs(now - session_clock()) < timedelta(seconds=5)
