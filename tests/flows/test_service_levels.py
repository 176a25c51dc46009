"""Service levels: the one rule deciding when a case is due and nudged, on the company's calendar."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.escalation import EscalationRules, Priority, ServiceLevels
from flows.holidays import HolidayRules

ROME = ServiceLevels()  # the default company: Rome time, Italy's holidays
CHRISTMAS_EVE_4PM = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)  # Thursday 16:00 in Rome


def test_p1_skips_the_company_holidays() -> None:
    """A P1 opened Thursday 24 Dec 16:00 Rome: 2 h that day, Christmas closed, due Monday 28 Dec 11:00."""
    assert ROME.due_at(CHRISTMAS_EVE_4PM, Priority.P1) == datetime(2026, 12, 28, 10, 0, tzinfo=UTC)


def test_holidays_can_be_business_days() -> None:
    """With ``holidays: false`` in the journey's rules, Christmas Day counts: due Friday 25 Dec 11:00."""
    open_on_holidays = ServiceLevels(rules=EscalationRules(holidays=False))
    assert open_on_holidays.due_at(CHRISTMAS_EVE_4PM, Priority.P1) == datetime(
        2026, 12, 25, 10, 0, tzinfo=UTC
    )


def test_extra_closed_days_and_other_time_zones() -> None:
    """The company's extra dates close too, counted in its own time zone (New York: 09–18 local)."""
    levels = ServiceLevels(
        timezone="America/New_York", holidays=HolidayRules(country="US", extra_dates=((11, 23),))
    )
    friday_4pm = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # Friday 16:00 in New York
    # 2 h Friday; Monday 23 closed (extra), Tuesday 09:00 + 2 h = 11:00 EST = 16:00 UTC.
    assert levels.due_at(friday_4pm, Priority.P1) == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def test_p2_is_calendar_time() -> None:
    """A P2 is due 48 calendar hours later, holidays or not."""
    assert ROME.due_at(CHRISTMAS_EVE_4PM, Priority.P2) == datetime(2026, 12, 26, 15, 0, tzinfo=UTC)


def test_a_raise_never_pushes_the_due_time_later() -> None:
    """Raised to P1, a case is due 4 business hours after the raise, or earlier if it already was."""
    tuesday_11am = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    p2_due = ROME.due_at(tuesday_11am, Priority.P2)
    assert ROME.raised_due_at(p2_due, tuesday_11am, Priority.P1) == datetime(2026, 11, 17, 14, 0, tzinfo=UTC)
    soon = datetime(2026, 11, 17, 11, 0, tzinfo=UTC)
    assert ROME.raised_due_at(soon, tuesday_11am, Priority.P1) == soon
    assert ROME.raised_due_at(None, tuesday_11am, Priority.P1) == datetime(2026, 11, 17, 14, 0, tzinfo=UTC)


def test_the_nudge_counts_business_hours_across_holidays() -> None:
    """The P1 opened on Christmas Eve is nudged at 75% of its 4 business hours: Monday 28 Dec 10:00."""
    due = ROME.due_at(CHRISTMAS_EVE_4PM, Priority.P1)
    assert ROME.warn_at(CHRISTMAS_EVE_4PM, due, Priority.P1) == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)
