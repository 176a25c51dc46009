"""Escalations' unresolved list and card places, the next pending timer, stored totals, an event's
surveys (storage.escalations, backlog, summary, event_facts)."""

from __future__ import annotations

from datetime import timedelta

from storage import backlog, event_facts, repo
from storage import escalations as escalation_store
from storage.db import Database
from storage.summary import totals
from storage.tables import Escalation, SurveyInstance
from tests.clocks import FakeClock


def _case(status: str, clock: FakeClock) -> Escalation:
    return Escalation(
        customer_id="c-1", priority="p2", status=status, opened_at=clock.now, updated_at=clock.now
    )


def test_unresolved_cases_and_where_their_card_is(db: Database, clock: FakeClock) -> None:
    """Open and taken cases are unresolved; a card's place and topic are kept (a gone case's ignored)."""
    with db.write() as session:
        repo.ensure_customer(session, "c-1", clock.now)
        cases = [_case(status, clock) for status in ("open", "taken", "resolved")]
        for case in cases:
            escalation_store.save(session, case)
    ids = [case.id or 0 for case in cases]
    with db.write() as session:
        escalation_store.place_topic(session, ids[0], 77)
        escalation_store.place_card(session, ids[0], "-100", 5)
        escalation_store.place_card(session, 999, "-100", 6)
    with db.read() as session:
        assert sorted(e.id or 0 for e in escalation_store.unresolved(session)) == ids[:2]
        placed = escalation_store.get(session, ids[0])
        assert escalation_store.get(session, 999) is None
    assert placed is not None
    assert (placed.thread_id, placed.card_chat_id, placed.card_message_id) == (77, "-100", 5)
    assert (totals(db).answers, totals(db).escalations, totals(db).messages) == (0, 3, 0)


def test_next_pending_timer_and_an_events_surveys(db: Database, clock: FakeClock) -> None:
    """The earliest pending timer is next (none before any); an event's surveys come with their timers."""
    assert backlog.next_pending_timer(db) is None
    with db.write() as session:
        repo.ensure_customer(session, "c-1", clock.now)
        for stage, hours in (("delivery", 5), ("repurchase", 2), ("first_use", 0)):
            survey = SurveyInstance(
                customer_id="c-1",
                event_id="e-1",
                stage=stage,
                metric="csat",
                due_at=clock.now,
                created_at=clock.now,
            )
            survey_id = event_facts.add_survey(session, survey)
            if hours:
                repo.schedule_work(
                    session, kind="survey_due", customer_id="c-1", survey_id=survey_id,
                    due_at=clock.now + timedelta(hours=hours), now=clock.now,
                )  # fmt: skip
    assert backlog.next_pending_timer(db) == clock.now + timedelta(hours=2)
    with db.read() as session:
        planned = event_facts.surveys_of_event(session, "e-1")
        assert event_facts.surveys_of_event(session, "e-2") == []
    assert [(s.stage, t.due_at if t else None) for s, t in planned] == [
        ("delivery", clock.now + timedelta(hours=5)),
        ("repurchase", clock.now + timedelta(hours=2)),
        ("first_use", None),
    ]
