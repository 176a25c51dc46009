"""The survey deadline (planned due time + the stage's expiry) is hard on every path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from flows.conversation import AgentAction, AgentActionKind, ButtonPress, Engine, SurveyDue, SurveyExpired
from flows.conversation.state import ConversationState, SurveyStatus
from flows.journey import load_journey
from flows.scheduling import (
    DEFAULT_QUIET_HOURS,
    CustomerFacts,
    DueSurvey,
    Expire,
    QuietHours,
    Send,
    SentSurvey,
    decide,
)
from storage.tables import OutboxMessage, SurveyInstance
from tests.clocks import FakeClock

JOURNEY = load_journey(None)
STAGES = list(JOURNEY.stages)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

_instants = st.integers(min_value=0, max_value=400 * 24 * 60).map(lambda m: EPOCH + timedelta(minutes=m))


#: now, the due survey, the customer, earlier surveys, competing surveys, the sending window.
Case = tuple[datetime, DueSurvey, CustomerFacts, list[SentSurvey], list[DueSurvey], QuietHours | None]


@st.composite
def _cases(draw: st.DrawFn) -> Case:
    stage = draw(st.sampled_from(STAGES))
    due = draw(_instants)
    expiry = timedelta(minutes=draw(st.integers(min_value=1, max_value=30 * 24 * 60)))
    stage = stage.model_copy(update={"expiry": expiry, "reminder": None})
    now = due + timedelta(minutes=draw(st.integers(min_value=-60, max_value=60 * 24 * 60)))
    facts = CustomerFacts(
        timezone=draw(st.sampled_from(["Europe/Rome", "America/New_York", "Asia/Tokyo", "Nowhere/Bad"])),
        open_escalation=draw(st.booleans()),
        open_ticket=draw(st.booleans()),
    )
    history = [
        SentSurvey(stage=s.id, metric=s.metric.value, kind=s.kind, sent_at=now - timedelta(hours=h))
        for s, h in draw(
            st.lists(st.tuples(st.sampled_from(STAGES), st.integers(min_value=0, max_value=2400)), max_size=3)
        )
    ]
    competing = [
        DueSurvey(100 + i, s, now - timedelta(hours=h))
        for i, (s, h) in enumerate(
            draw(
                st.lists(
                    st.tuples(st.sampled_from(STAGES), st.integers(min_value=0, max_value=400)), max_size=3
                )
            )
        )
    ]
    quiet = draw(st.sampled_from([None, DEFAULT_QUIET_HOURS]))
    return now, DueSurvey(1, stage, due), facts, history, competing, quiet


@settings(max_examples=400, deadline=None)
@given(_cases())
def test_never_sent_after_the_deadline(case: Case) -> None:
    """Any due time, expiry, window, caps, holds, now: no Send and no postponement past due + expiry."""
    now, survey, facts, history, competing, quiet = case
    decision = decide(now, survey, facts, history, competing, quiet)
    deadline = survey.due_at + survey.stage.expiry
    if isinstance(decision, Send):
        assert now < deadline
    elif isinstance(decision, Expire):
        assert decision.reason
    else:
        assert decision.until < deadline  # type: ignore[union-attr]
    if now >= deadline:
        assert isinstance(decision, Expire)


def test_stale_competitor_does_not_win() -> None:
    """A higher-priority survey already past its deadline does not hold back one still in time."""
    now = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)  # Tuesday 11:00 Rome
    stale = DueSurvey(1, JOURNEY.stage("ticket_closed"), now - timedelta(days=5))
    fresh = DueSurvey(2, JOURNEY.stage("first_use"), now - timedelta(hours=1))
    assert decide(now, fresh, CustomerFacts(), competing=[stale]) == Send()
    assert decide(now, stale, CustomerFacts(), competing=[fresh]) == Expire("expired")


def test_queued_survey_is_not_asked_after_its_deadline() -> None:
    """A survey queued behind another is recorded expired, not asked, when its turn comes too late."""
    engine = Engine(JOURNEY)
    t0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    state, _ = engine.step(ConversationState(), SurveyDue(survey_id=1, stage="repurchase"), t0)
    due = SurveyDue(survey_id=2, stage="delivered", deadline=t0 + timedelta(hours=72))
    state, actions = engine.step(state, due, t0)
    timers = [a for a in actions if a.kind == "schedule_timer"]
    assert [(t.survey_id, t.at) for t in timers] == [(2, t0 + timedelta(hours=72))]
    # The repurchase NPS expires after 7 days: the queued CSAT's deadline passed meanwhile.
    state, actions = engine.step(state, SurveyExpired(survey_id=1), t0 + timedelta(days=7))
    marks = [(a.survey_id, a.status, a.reason) for a in actions if a.kind == "mark_survey"]
    assert (2, SurveyStatus.EXPIRED, "expired_in_queue") in marks
    assert not [a for a in actions if a.kind == "send"]
    assert state.active is None and state.queue == ()


def test_survey_held_during_a_case_expires_instead_of_being_asked_late() -> None:
    """A survey queued during a hand-off is not asked after the case is resolved past its deadline."""
    engine = Engine(JOURNEY)
    t0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    state, _ = engine.step(
        ConversationState(), AgentAction(action=AgentActionKind.TAKEN, escalation_id=9), t0
    )
    due = SurveyDue(survey_id=5, stage="first_use", deadline=t0 + timedelta(days=7))
    state, _ = engine.step(state, due, t0)
    assert [p.survey_id for p in state.queue] == [5]
    later = t0 + timedelta(days=17)
    state, _ = engine.step(state, AgentAction(action=AgentActionKind.RESOLVED, escalation_id=9), later)
    state, actions = engine.step(
        state, AgentAction(action=AgentActionKind.HANDED_BACK, escalation_id=9), later
    )
    state, actions = engine.step(state, ButtonPress(survey_id=None, value="solved:yes"), later)
    assert not [a for a in actions if a.kind == "send" and a.survey_id == 5]
    assert [(a.survey_id, a.status) for a in actions if a.kind == "mark_survey"] == [
        (5, SurveyStatus.EXPIRED)
    ]


def _event(event_id: str, kind: str, occurred: datetime, order: str) -> BusinessEventIn:
    return BusinessEventIn.model_validate(
        {
            "event_id": event_id,
            "type": kind,
            "occurred_at": occurred.isoformat(),
            "customer": {"id": "c-old", "language": "it", "timezone": "Europe/Rome", "telegram_chat_id": 77},
            "order": {"id": order, "items": [{"name": "Moka"}]},
        }
    )


def test_import_of_week_old_events_sends_only_what_is_in_time(service: Service, clock: FakeClock) -> None:
    """Back-filled events: an 8-day-old delivery's CSAT (72 h) expires unsent; the NPS due now is asked."""
    clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # Wednesday 11:00 Rome
    result = ingest_event(
        service.db,
        service.journey,
        _event("old-1", "order.delivered", clock.now - timedelta(days=8), "A1"),
        clock.now,
    )
    assert result.expired == ["delivered"]
    for _ in range(3):
        run_due_work(service, clock.now, quiet=DEFAULT_QUIET_HOURS)
        clock.advance(minutes=10)
    with service.db.read() as session:
        surveys = {s.stage: s for s in session.exec(select(SurveyInstance))}
        sent = [m.payload["text"] for m in session.exec(select(OutboxMessage)) if m.payload.get("survey_id")]
    assert surveys["delivered"].status == "expired"
    assert surveys["delivered"].reason == "expired"
    assert surveys["delivered"].sent_at is None
    assert surveys["first_use"].status == "sent"  # due 1 day ago, 7 days to go: in time
    assert len(sent) == 1 and "consiglieresti" in sent[0]


def test_survey_released_by_start_after_its_deadline_expires(service: Service, clock: FakeClock) -> None:
    """A survey that waited for the customer's /start is not asked when /start comes after its deadline."""
    from storage import repo

    clock.now = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    event = BusinessEventIn.model_validate(
        {
            "event_id": "no-chat",
            "type": "order.delivered",
            "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-nochat", "language": "it"},
            "order": {"id": "B1"},
        }
    )
    ingest_event(service.db, service.journey, event, clock.now, quiet=None)
    assert run_due_work(service, clock.now, quiet=None) == {"waiting": 1}
    clock.advance(days=4)
    with service.db.write() as session:
        repo.bind_identity(session, "c-nochat", "telegram", "999", clock.now)
        assert repo.release_waiting_work(session, "c-nochat", clock.now) == 1
    assert run_due_work(service, clock.now, quiet=None) == {"expired": 1}
    with service.db.read() as session:
        survey = session.exec(
            select(SurveyInstance).where(
                SurveyInstance.customer_id == "c-nochat", SurveyInstance.stage == "delivered"
            )
        ).one()
        sent = [m for m in session.exec(select(OutboxMessage)) if m.payload.get("survey_id")]
    assert (survey.status, survey.reason, sent) == ("expired", "expired", [])


def test_backfill_file_of_week_old_events_sends_only_what_is_in_time(
    service: Service, clock: FakeClock, tmp_path: Path
) -> None:
    """`events import` of a week-old history: expired surveys are counted, only in-time ones are asked."""
    import json

    from bot.events.importer import import_events

    clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # Wednesday 11:00 Rome
    lines = []
    for n, days in enumerate((8, 6, 2)):
        occurred = (clock.now - timedelta(days=days)).isoformat()
        lines.append(
            json.dumps(
                {
                    "event_id": f"bf-{n}",
                    "type": "order.delivered",
                    "occurred_at": occurred,
                    "customer": {"id": f"c-bf-{n}", "language": "it", "telegram_chat_id": 500 + n},
                    "order": {"id": f"BF{n}"},
                }
            )
        )
    file = tmp_path / "history.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tally = import_events(service.db, service.journey, file, clock.now, quiet=DEFAULT_QUIET_HOURS)
    # CSAT (72 h): only the 2-day-old delivery's is in time; NPS (due 7 d after, 7 d expiry): the
    # 8-day-old delivery's is due and in time, the others are due later.
    assert (tally.accepted, tally.expired, tally.scheduled) == (3, 2, 4)
    run_due_work(service, clock.now, quiet=DEFAULT_QUIET_HOURS)
    with service.db.read() as session:
        status = {(s.order_id, s.stage): s.status for s in session.exec(select(SurveyInstance))}
    assert status == {
        ("BF0", "delivered"): "expired",
        ("BF0", "first_use"): "sent",
        ("BF1", "delivered"): "expired",
        ("BF1", "first_use"): "scheduled",
        ("BF2", "delivered"): "sent",
        ("BF2", "first_use"): "scheduled",
    }
