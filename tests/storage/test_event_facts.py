"""What business events store: orders, tickets, surveys planned and cancelled (storage.event_facts)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage import event_facts, repo
from storage.db import Database
from storage.tables import DueWork, Order, SurveyInstance, Ticket
from tests.clocks import FakeClock


def test_order_keeps_its_times_across_events(db: Database, clock: FakeClock) -> None:
    """A later event changes the order's status and adds its time; earlier times and items stay."""
    placed = clock.now - timedelta(days=3)
    with db.write() as session:
        repo.ensure_customer(session, "c-1", clock.now)
        event_facts.record_order(
            session, "o-1", "c-1", clock.now, status="placed", items=[{"sku": "A"}], placed_at=placed
        )
    with db.write() as session:
        event_facts.record_order(session, "o-1", "c-1", clock.now, status="delivered", delivered_at=clock.now)
    with db.read() as session:
        order = session.get(Order, "o-1")
    assert order is not None
    assert (order.status, order.items, order.placed_at, order.delivered_at) == (
        "delivered",
        [{"sku": "A"}],
        placed,
        clock.now,
    )


def test_ticket_keeps_its_first_opening(db: Database, clock: FakeClock) -> None:
    """A reopened ticket keeps the time it was first opened; closing it records when."""
    first = clock.now - timedelta(days=2)
    with db.write() as session:
        repo.ensure_customer(session, "c-1", clock.now)
        event_facts.record_ticket(session, "T-1", "c-1", None, opened_at=first)
        event_facts.record_ticket(session, "T-1", "c-1", None, closed_at=first + timedelta(hours=1))
        event_facts.record_ticket(session, "T-1", "c-1", None, opened_at=clock.now)
    with db.read() as session:
        ticket = session.get(Ticket, "T-1")
    assert ticket is not None
    assert (ticket.status, ticket.opened_at, ticket.closed_at) == ("open", first, first + timedelta(hours=1))


def test_cancelling_matches_stage_and_order_and_stops_timers(db: Database, clock: FakeClock) -> None:
    """Only the customer's scheduled surveys of the matched stage and order are cancelled, timers too."""
    with db.write() as session:
        repo.ensure_customer(session, "c-1", clock.now)
        ids = {}
        for stage, order in (("delivery", "o-1"), ("delivery", "o-2"), ("repurchase", "o-1")):
            survey = SurveyInstance(
                customer_id="c-1", order_id=order, event_id=f"e-{order}", stage=stage, metric="csat",
                due_at=clock.now, created_at=clock.now,
            )  # fmt: skip
            ids[stage, order] = event_facts.add_survey(session, survey)
            repo.schedule_work(
                session, kind="survey_due", customer_id="c-1", survey_id=ids[stage, order], due_at=clock.now,
                now=clock.now,
            )  # fmt: skip
    match = event_facts.SurveyMatch(["delivery"], order_id="o-1")
    with db.write() as session:
        assert (
            event_facts.cancel_scheduled_surveys(session, "c-1", [match], "order.cancelled", clock.now) == 1
        )
        assert event_facts.cancel_scheduled_surveys(session, "c-1", [], "order.cancelled", clock.now) == 0
    with db.read() as session:
        surveys = {s.id: (s.status, s.reason) for s in session.exec(select(SurveyInstance))}
        timers = {w.survey_id: w.status for w in session.exec(select(DueWork))}
    cancelled = ids["delivery", "o-1"]
    assert surveys[cancelled] == ("cancelled", "order.cancelled")
    assert timers[cancelled] == "cancelled"
    assert [surveys[i][0] for i in ids.values() if i != cancelled] == ["scheduled", "scheduled"]
    assert [timers[i] for i in ids.values() if i != cancelled] == ["pending", "pending"]
