"""The hostile suite's tally: probes sent, forgeries accepted, 5xx answers, personal data left.

Each probe records its outcome through the ``tally`` fixture; the totals are printed at the end
of the run (the issue's closing table), and each test also asserts on its own share.
"""

from __future__ import annotations

from collections import Counter

import pytest

TOTALS: Counter[str] = Counter()


class Tally:
    """Counts a test's probes; ``forgery`` marks a probe that must be refused."""

    def probe(self, status: int, *, forgery: bool = False) -> None:
        """Record one request's answer."""
        TOTALS["probes sent"] += 1
        if status >= 500:
            TOTALS["5xx"] += 1
        if forgery and status < 300:
            TOTALS["accepted forgeries"] += 1

    def leftover(self, found: int) -> None:
        """Record personal data found after an erasure."""
        TOTALS["personal data found after erasure"] += found


@pytest.fixture
def tally() -> Tally:
    """Return the tally shared by the hostile tests."""
    return Tally()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the hostile suite's totals when it ran."""
    if TOTALS:
        line = ", ".join(
            f"{key}: {TOTALS[key]}"
            for key in ("probes sent", "accepted forgeries", "5xx", "personal data found after erasure")
        )
        terminalreporter.write_line(f"hostile suite — {line}")
