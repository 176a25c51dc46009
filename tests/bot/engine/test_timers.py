"""Due work with a controlled clock: quiet hours, caps, reminder, expiry, cancellation, holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import IngestResult, ingest_event
from bot.events.schema import BusinessEventIn
from flows.scheduling import DEFAULT_QUIET_HOURS
from storage.tables import Customer, DueWork, OutboxMessage, SurveyInstance, Ticket
from tests.clocks import FakeClock


def _ingest(
    service: Service,
    clock: FakeClock,
    kind: str = "order.delivered",
    event_id: str = "evt-1",
    order: str = "1001",
    ago: float = 3.0,
    **extra: Any,
) -> IngestResult:
    event = BusinessEventIn.model_validate(
        {
            "event_id": event_id,
            "type": kind,
            "occurred_at": (clock.now - timedelta(hours=ago)).isoformat(),
            "customer": {"id": "c-42", "language": "it", "timezone": "Europe/Rome", "telegram_chat_id": 4242},
            "order": {"id": order, "items": [{"name": "Moka"}]},
            **extra,
        }
    )
    return ingest_event(service.db, service.journey, event, clock.now, quiet=extra.pop("quiet", None))


def _run(service: Service, clock: FakeClock) -> dict[str, int]:
    return run_due_work(service, clock.now, quiet=DEFAULT_QUIET_HOURS)


def _surveys(service: Service) -> dict[str, SurveyInstance]:
    with service.db.read() as session:
        return {s.stage: s for s in session.exec(select(SurveyInstance).order_by(col(SurveyInstance.id)))}


def _survey_messages(service: Service) -> list[OutboxMessage]:
    with service.db.read() as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    return [m for m in rows if m.payload.get("survey_id") is not None]


def test_survey_due_at_night_waits_for_the_window(service: Service, clock: FakeClock) -> None:
    """A survey due at 23:00 Rome is postponed (reason quiet_hours) and sent at 09:00 the next day."""
    clock.now = datetime(2026, 11, 17, 22, 0, tzinfo=UTC)
    _ingest(service, clock)
    assert _run(service, clock) == {"postponed": 1}
    assert _surveys(service)["delivered"].reason == "quiet_hours"
    assert _survey_messages(service) == []
    clock.now = datetime(2026, 11, 18, 7, 59, tzinfo=UTC)
    assert _run(service, clock) == {}
    clock.now = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
    assert _run(service, clock) == {"fed": 1}
    assert len(_survey_messages(service)) == 1
    assert _surveys(service)["delivered"].status == "sent"


def test_ingest_schedules_inside_the_window(service: Service, clock: FakeClock) -> None:
    """With quiet hours, an event on Saturday evening schedules its survey for Monday 09:00 Rome."""
    clock.now = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)
    event = BusinessEventIn.model_validate(
        {
            "event_id": "e-sat",
            "type": "order.delivered",
            "occurred_at": clock.now.isoformat(),
            "customer": {"id": "c-1", "timezone": "Europe/Rome"},
            "order": {"id": "9"},
        }
    )
    result = ingest_event(service.db, service.journey, event, clock.now, quiet=DEFAULT_QUIET_HOURS)
    assert dict(result.scheduled)["delivered"] == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_second_survey_within_a_day_is_capped(service: Service, clock: FakeClock) -> None:
    """A second delivery CSAT the same day is capped (24 h, then 7 days same metric): expired unsent."""
    _ingest(service, clock, event_id="e-1", order="1001")
    assert _run(service, clock) == {"fed": 1}
    clock.advance(hours=1)
    _ingest(service, clock, event_id="e-2", order="1002")
    assert _run(service, clock) == {"expired": 1}
    with service.db.read() as session:
        second = session.exec(select(SurveyInstance).where(SurveyInstance.order_id == "1002")).all()
    capped = next(s for s in second if s.stage == "delivered")
    assert (capped.status, capped.reason) == ("expired", "cap_metric_7d")
    assert len(_survey_messages(service)) == 1


def test_collision_sends_support_ces_first(service: Service, clock: FakeClock) -> None:
    """A support CES and a delivery CSAT due together: the CES is asked, the CSAT waits."""
    _ingest(service, clock, event_id="e-1")
    _ingest(service, clock, kind="ticket.closed", event_id="t-1", ticket={"id": "T-1"})
    counts = _run(service, clock)
    assert counts == {"fed": 1, "postponed": 1}
    surveys = _surveys(service)
    assert surveys["ticket_closed"].status == "sent"
    assert surveys["delivered"].reason == "collision"


def test_one_reminder_then_expiry(service: Service, clock: FakeClock) -> None:
    """Unanswered: one reminder 24 h later, then the survey expires at 72 h; nothing more is sent."""
    _ingest(service, clock)
    _run(service, clock)
    clock.advance(hours=24)
    assert _run(service, clock) == {"fed": 1}
    messages = _survey_messages(service)
    assert len(messages) == 2 and messages[1].payload["text"].startswith("Un piccolo promemoria")
    clock.advance(hours=48)
    assert _run(service, clock) == {"fed": 1}
    assert _surveys(service)["delivered"].status == "expired"
    assert len(_survey_messages(service)) == 2


def test_reminder_on_sunday_waits_for_monday(service: Service, clock: FakeClock) -> None:
    """A reminder falling due on Sunday is postponed to Monday's opening, then sent once."""
    clock.now = datetime(2026, 11, 21, 17, 30, tzinfo=UTC)  # Saturday 18:30 Rome
    _ingest(service, clock)
    assert _run(service, clock) == {"fed": 1}
    clock.advance(hours=24)  # Sunday
    assert _run(service, clock) == {"postponed": 1}
    clock.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert _run(service, clock) == {"fed": 1}
    assert len(_survey_messages(service)) == 2


def test_return_cancels_delivery_csat(service: Service, clock: FakeClock) -> None:
    """order.returned before the CSAT is due cancels it and its timer; nothing is ever sent."""
    _ingest(service, clock, ago=0)
    clock.advance(hours=1)
    _ingest(service, clock, kind="order.returned", event_id="r-1", ago=0)
    clock.advance(hours=2)
    assert _run(service, clock) == {}
    surveys = _surveys(service)
    assert surveys["delivered"].status == "cancelled" and surveys["first_use"].status == "cancelled"
    assert surveys["delivered"].reason == "order.returned"
    with service.db.read() as session:
        assert {w.status for w in session.exec(select(DueWork))} == {"cancelled"}


def test_reopened_ticket_cancels_support_ces(service: Service, clock: FakeClock) -> None:
    """ticket.reopened cancels the pending CES of that ticket only."""
    _ingest(service, clock, kind="ticket.closed", event_id="t-1", ticket={"id": "T-1"}, ago=0)
    _ingest(service, clock, kind="ticket.closed", event_id="t-2", ticket={"id": "T-2"}, ago=0)
    _ingest(service, clock, kind="ticket.reopened", event_id="t-3", ticket={"id": "T-1"}, ago=0)
    with service.db.read() as session:
        status = {s.ticket_id: s.status for s in session.exec(select(SurveyInstance))}
    assert status == {"T-1": "cancelled", "T-2": "scheduled"}


def test_ticket_opened_suppresses_first_use_nps(service: Service, clock: FakeClock) -> None:
    """A ticket opened before first use cancels that order's first-use NPS."""
    _ingest(service, clock)
    _ingest(service, clock, kind="ticket.opened", event_id="t-1", ticket={"id": "T-9"}, ago=0)
    assert _surveys(service)["first_use"].status == "cancelled"


def test_open_ticket_holds_then_releases(service: Service, clock: FakeClock) -> None:
    """While the customer's ticket is open the CSAT waits; once closed it is sent."""
    _ingest(service, clock)
    with service.db.write() as session:
        session.add(Ticket(id="T-5", customer_id="c-42", status="open"))
    assert _run(service, clock) == {"postponed": 1}
    assert _surveys(service)["delivered"].reason == "ticket_open"
    with service.db.write() as session:
        ticket = session.get(Ticket, "T-5")
        assert ticket is not None
        ticket.status = "closed"
    clock.advance(hours=1)
    assert _run(service, clock) == {"fed": 1}


def test_opted_out_customer_is_never_asked(service: Service, clock: FakeClock) -> None:
    """A due survey of an opted-out customer is skipped, with the reason."""
    _ingest(service, clock)
    with service.db.write() as session:
        customer = session.get(Customer, "c-42")
        assert customer is not None
        customer.opted_out = True
    assert _run(service, clock) == {"skipped": 1}
    assert _surveys(service)["delivered"].reason == "opted_out"
    assert _survey_messages(service) == []
