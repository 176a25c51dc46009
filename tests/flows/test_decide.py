"""The pure sending decision: quiet hours, frequency caps, suppression, collisions, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.errors import ConfigError
from flows.journey import StageKind, load_journey
from flows.scheduling import (
    CustomerFacts,
    DueSurvey,
    Expire,
    Postpone,
    Send,
    SentSurvey,
    Skip,
    decide,
    italian_holidays,
    next_window_open,
    parse_quiet_hours,
)

JOURNEY = load_journey(None)
ROME = "Europe/Rome"
TUESDAY_11_ROME = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


def _due(stage: str, now: datetime = TUESDAY_11_ROME, survey_id: int = 1) -> DueSurvey:
    return DueSurvey(survey_id, JOURNEY.stage(stage), now)


def _sent(stage: str, at: datetime) -> SentSurvey:
    s = JOURNEY.stage(stage)
    return SentSurvey(stage=stage, metric=s.metric.value, kind=s.kind, sent_at=at)


def test_inside_the_window_it_is_sent() -> None:
    """A due survey on a weekday at 11:00 Rome time with no history is sent."""
    assert decide(TUESDAY_11_ROME, _due("delivered"), CustomerFacts()) == Send()


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        # Tuesday 21:30 Rome → Wednesday 09:00 Rome (08:00 UTC)
        (datetime(2026, 11, 17, 20, 30, tzinfo=UTC), datetime(2026, 11, 18, 8, 0, tzinfo=UTC)),
        # Saturday 19:30 Rome → Monday 09:00 (never on Sunday)
        (datetime(2026, 11, 21, 18, 30, tzinfo=UTC), datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
        # Saturday 08:00 Rome → Saturday 10:00
        (datetime(2026, 11, 21, 7, 0, tzinfo=UTC), datetime(2026, 11, 21, 9, 0, tzinfo=UTC)),
        # Christmas Day (Friday) 10:00 → Saturday 26 is Santo Stefano → Monday 28 09:00
        (datetime(2026, 12, 25, 9, 0, tzinfo=UTC), datetime(2026, 12, 28, 8, 0, tzinfo=UTC)),
        # Christmas Eve (a pre-holiday Thursday) 19:30 → closed at 19 → 28th
        (datetime(2026, 12, 24, 18, 30, tzinfo=UTC), datetime(2026, 12, 28, 8, 0, tzinfo=UTC)),
    ],
)
def test_window_opening(now: datetime, opens: datetime) -> None:
    """Outside Mon–Fri 09–20, Sat 10–19 (no Sundays, holidays; eves 10–19) the next opening is found."""
    assert next_window_open(now, ROME, parse_quiet_hours("default")) == opens


def test_window_is_the_customers_timezone() -> None:
    """The window follows the customer's time zone: 11:00 in Rome is 05:00 in New York (closed)."""
    opens = next_window_open(TUESDAY_11_ROME, "America/New_York", parse_quiet_hours("default"))
    assert opens == datetime(2026, 11, 17, 14, 0, tzinfo=UTC)  # 09:00 New York


def test_quiet_hours_off_and_bad_values() -> None:
    """CXBOT_QUIET_HOURS=off disables the window; other values are a configuration error."""
    assert parse_quiet_hours("off") is None
    night = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert next_window_open(night, ROME, None) == night
    with pytest.raises(ConfigError):
        parse_quiet_hours("sometimes")


def test_easter_monday_is_a_holiday() -> None:
    """Easter (computed) and Easter Monday are among the Italian holidays."""
    assert datetime(2027, 3, 29).date() in italian_holidays(2027)  # Easter 2027 is March 28


def test_outside_window_postponed_to_opening() -> None:
    """A survey due at night is postponed to the window's opening, not dropped."""
    night = datetime(2026, 11, 17, 22, 0, tzinfo=UTC)
    decision = decide(night, _due("delivered", night), CustomerFacts())
    assert decision == Postpone(datetime(2026, 11, 18, 8, 0, tzinfo=UTC), "quiet_hours")
    assert decide(night, _due("delivered", night), CustomerFacts(), quiet=None) == Send()


def test_opted_out_and_no_consent_are_skipped() -> None:
    """Opted-out customers and those who refused consent are never surveyed."""
    assert decide(TUESDAY_11_ROME, _due("delivered"), CustomerFacts(opted_out=True)) == Skip("opted_out")
    assert decide(TUESDAY_11_ROME, _due("delivered"), CustomerFacts(consent=False)) == Skip("no_consent")


def test_open_escalation_or_ticket_holds_the_survey() -> None:
    """While an escalation or a support ticket is open the survey waits (rechecked hourly)."""
    now = TUESDAY_11_ROME
    held = decide(now, _due("delivered"), CustomerFacts(open_escalation=True))
    assert held == Postpone(now + timedelta(hours=1), "escalation_open")
    assert decide(now, _due("delivered"), CustomerFacts(open_ticket=True)) == Postpone(
        now + timedelta(hours=1), "ticket_open"
    )


def test_hold_until_expiry_skips() -> None:
    """A survey held past its deadline (planned + expiry) expires with what held it."""
    due = _due("delivered", TUESDAY_11_ROME - timedelta(hours=71, minutes=30))
    assert decide(TUESDAY_11_ROME, due, CustomerFacts(open_ticket=True)) == Expire("ticket_open")


def test_one_survey_per_24_hours() -> None:
    """Another survey was asked 2 h ago: postponed to 24 h after it, moved into the window if needed."""
    history = [_sent("ticket_closed", TUESDAY_11_ROME - timedelta(hours=2))]
    decision = decide(TUESDAY_11_ROME, _due("delivered"), CustomerFacts(), history)
    assert decision == Postpone(TUESDAY_11_ROME + timedelta(hours=22), "cap_24h")  # Wed 09:00 Rome
    earlier = [_sent("ticket_closed", TUESDAY_11_ROME - timedelta(hours=3))]  # free at 08:00 Rome
    decision = decide(TUESDAY_11_ROME, _due("delivered"), CustomerFacts(), earlier)
    assert decision == Postpone(TUESDAY_11_ROME + timedelta(hours=22), "cap_24h")


def test_same_transactional_metric_per_7_days() -> None:
    """A CES asked 2 days ago blocks another CES for 7 days: past its expiry, so it expires."""
    history = [_sent("ticket_closed", TUESDAY_11_ROME - timedelta(days=2))]
    assert decide(TUESDAY_11_ROME, _due("order_placed"), CustomerFacts(), history) == Expire("cap_metric_7d")


def test_relationship_nps_once_per_90_days() -> None:
    """A relationship NPS 60 days after another expires unsent; after 91 days it is sent."""
    assert JOURNEY.stage("repurchase").kind is StageKind.RELATIONSHIP
    recent = [_sent("first_use", TUESDAY_11_ROME - timedelta(days=60))]
    assert decide(TUESDAY_11_ROME, _due("repurchase"), CustomerFacts(), recent) == Expire(
        "cap_relationship_90d"
    )
    old = [_sent("first_use", TUESDAY_11_ROME - timedelta(days=91))]
    assert decide(TUESDAY_11_ROME, _due("repurchase"), CustomerFacts(), old) == Send()


def test_collision_priority_support_ces_first() -> None:
    """Due together: support CES beats delivery CSAT beats NPS; the loser waits a few minutes."""
    ces, csat, nps = (
        _due("ticket_closed", survey_id=3),
        _due("delivered", survey_id=1),
        _due("first_use", survey_id=2),
    )
    assert decide(TUESDAY_11_ROME, ces, CustomerFacts(), competing=[csat, nps]) == Send()
    loser = decide(TUESDAY_11_ROME, csat, CustomerFacts(), competing=[ces, nps])
    assert isinstance(loser, Postpone) and loser.reason == "collision"
    lost = decide(TUESDAY_11_ROME, nps, CustomerFacts(), competing=[csat])
    assert isinstance(lost, Postpone) and lost.reason == "collision"


def test_equal_priority_older_survey_first() -> None:
    """Two surveys of the same priority: the older one (lower id) goes first."""
    first, second = _due("delivered", survey_id=1), _due("delivered", survey_id=2)
    assert decide(TUESDAY_11_ROME, first, CustomerFacts(), competing=[second]) == Send()
    assert isinstance(decide(TUESDAY_11_ROME, second, CustomerFacts(), competing=[first]), Postpone)
