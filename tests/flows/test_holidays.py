"""Holidays close the sending window per the customer's country, with the company's regional extras."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flows.holidays import HolidayRules, country_of_timezone, holiday_rules
from flows.scheduling import QuietHours, italian_holidays, next_window_open

ROME, LONDON = "Europe/Rome", "Europe/London"


def test_4_october_is_an_italian_holiday_from_2026() -> None:
    """San Francesco (4 October) is a national holiday again from 2026, not before."""
    assert date(2026, 10, 4) in italian_holidays(2026)
    assert date(2025, 10, 4) not in italian_holidays(2025)
    monday = datetime(2027, 10, 4, 9, 30, tzinfo=UTC)  # 11:30 in Rome, a Monday
    assert next_window_open(monday, ROME, QuietHours()) == datetime(2027, 10, 5, 7, 0, tzinfo=UTC)


def test_italian_holidays_are_not_applied_to_a_customer_in_london() -> None:
    """2 June (Festa della Repubblica) closes the window in Rome but not in London."""
    tuesday = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)  # 11:00 in London, 12:00 in Rome
    assert next_window_open(tuesday, LONDON, QuietHours()) == tuesday
    assert next_window_open(tuesday, ROME, QuietHours()) == datetime(2026, 6, 3, 7, 0, tzinfo=UTC)


def test_a_customer_in_london_gets_the_uk_bank_holidays() -> None:
    """The Spring bank holiday (last Monday of May) closes the window in London, not in Rome."""
    monday = datetime(2026, 5, 25, 10, 0, tzinfo=UTC)
    assert next_window_open(monday, LONDON, QuietHours()) == datetime(2026, 5, 26, 8, 0, tzinfo=UTC)
    assert next_window_open(monday, ROME, QuietHours()) == monday


def test_company_extras_apply_in_the_company_country_only() -> None:
    """Milan's Sant'Ambrogio (subdivision MI) and a configured patron day close Rome-zone customers only."""
    rules = holiday_rules("IT", "MI", "06-24")
    quiet = QuietHours(rules=rules)
    ambrogio = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
    assert next_window_open(ambrogio, ROME, QuietHours()) == ambrogio  # not national
    assert next_window_open(ambrogio, ROME, quiet) == datetime(2026, 12, 9, 8, 0, tzinfo=UTC)  # 8 Dec too
    assert next_window_open(ambrogio, LONDON, quiet) == ambrogio
    patron = datetime(2026, 6, 24, 10, 0, tzinfo=UTC)  # a Wednesday
    assert next_window_open(patron, ROME, quiet) == datetime(2026, 6, 25, 7, 0, tzinfo=UTC)


def test_zones_without_one_country_use_the_company_country() -> None:
    """UTC has no country: the company's holidays apply; named zones map to their country."""
    assert (country_of_timezone(ROME), country_of_timezone(LONDON), country_of_timezone("UTC")) == (
        "IT",
        "GB",
        None,
    )
    assert HolidayRules(country="IT").holidays(2026, "UTC") == italian_holidays(2026)
    assert date(2026, 7, 4) in HolidayRules(country="US").holidays(2026, "UTC")
