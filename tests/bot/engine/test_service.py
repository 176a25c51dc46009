"""The service's entry point on SQLite and PostgreSQL: one transaction per step, nothing lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlmodel import Session, SQLModel, select

from bot.engine.apply import Address
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from flows.conversation import ButtonPress, CustomerText, Started
from flows.journey import Journey
from storage.claims import claim_due_work, claim_outbox
from storage.tables import Conversation, DueWork, Escalation, OutboxMessage, Response, SurveyInstance
from tests.clocks import FakeClock

CHAT = Address("telegram", "4242")


M = TypeVar("M", bound=SQLModel)


def _event(
    clock: FakeClock,
    kind: str = "order.delivered",
    event_id: str = "evt-1",
    hours_ago: float = 3.0,
    **extra: Any,
) -> BusinessEventIn:
    return BusinessEventIn.model_validate(
        {
            "event_id": event_id,
            "type": kind,
            "occurred_at": (clock.now - timedelta(hours=hours_ago)).isoformat(),
            "customer": {"id": "c-42", "name": "Giulia", "language": "it", "telegram_chat_id": 4242},
            "order": {"id": "1001", "items": [{"name": "Moka 6 tazze"}]},
            **extra,
        }
    )


def _rows(service: Service, model: type[M]) -> list[M]:
    with service.db.read() as session:
        return list(session.exec(select(model)))


def test_event_schedules_due_survey_once(service: Service, clock: FakeClock) -> None:
    """An order.delivered event schedules the delivery CSAT and first-use NPS; a repeat is a duplicate."""
    first = ingest_event(service.db, service.journey, _event(clock), clock.now)
    again = ingest_event(service.db, service.journey, _event(clock), clock.now)
    assert first.status == "accepted" and again.status == "duplicate"
    assert sorted(stage for stage, _ in first.scheduled) == ["delivered", "first_use"]
    assert len(_rows(service, SurveyInstance)) == 2
    assert first.reachable


def test_due_survey_is_asked_answered_and_stored(service: Service, clock: FakeClock) -> None:
    """A due survey is asked with buttons; a tap stores the score; a reason is stored with it."""
    ingest_event(service.db, service.journey, _event(clock), clock.now)
    counts = run_due_work(service, clock.now)
    assert counts == {"fed": 1}  # the CSAT is due (2 h delay), the NPS is not (7 d)
    outbox = _rows(service, OutboxMessage)
    assert len(outbox) == 1 and outbox[0].address == "4242"
    assert "1001" in outbox[0].payload["text"]
    assert [c["value"] for c in outbox[0].payload["rows"][0]] == [f"score:{n}" for n in range(1, 6)]
    survey_id = outbox[0].payload["survey_id"]
    service.feed("c-42", ButtonPress(survey_id=survey_id, value="score:2"), via=CHAT)
    service.feed("c-42", CustomerText(text="il corriere è arrivato con due giorni di ritardo"), via=CHAT)
    (response,) = _rows(service, Response)
    assert (response.stage, response.metric, response.score) == ("delivered", "csat", 2)
    assert response.comment == "il corriere è arrivato con due giorni di ritardo"
    assert response.channel == "telegram" and response.language == "it"
    (escalation,) = _rows(service, Escalation)
    assert escalation.priority == "p2" and escalation.order_id == "1001"
    survey = next(s for s in _rows(service, SurveyInstance) if s.id == survey_id)
    assert survey.status == "answered" and survey.sent_at is not None


def test_failure_mid_step_writes_nothing(service: Service, clock: FakeClock) -> None:
    """If the transaction fails after the step, neither state, outbox nor answer is written."""
    service.feed("c-1", Started(bound=True), via=CHAT)
    before = _rows(service, OutboxMessage)

    def crash(session: Session) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        service.feed("c-1", CustomerText(text="help"), via=CHAT, within=crash)
    assert len(_rows(service, OutboxMessage)) == len(before)
    (conversation,) = _rows(service, Conversation)
    assert conversation.version == 1


def test_state_survives_a_new_service(service: Service, clock: FakeClock, journey: Journey) -> None:
    """A conversation continues after a restart: state lives in the database."""
    ingest_event(service.db, service.journey, _event(clock), clock.now)
    run_due_work(service, clock.now)
    restarted = Service(service.db, journey, clock=clock)
    state = restarted.state_of("c-42")
    assert state is not None and state.active is not None and state.active.stage == "delivered"
    restarted.feed("c-42", CustomerText(text="quattro"), via=CHAT)
    assert [r.score for r in _rows(restarted, Response)] == [4]


def test_survey_waits_for_a_channel_then_is_released(service: Service, clock: FakeClock) -> None:
    """A customer without a chat gets nothing until they start the bot; then the survey is asked."""
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-9",
            "type": "ticket.closed",
            "occurred_at": (clock.now - timedelta(hours=2)).isoformat(),
            "customer": {"id": "c-9", "language": "en"},
            "ticket": {"id": "T-77"},
        }
    )
    result = ingest_event(service.db, service.journey, event, clock.now)
    assert not result.reachable
    assert run_due_work(service, clock.now) == {"waiting": 1}
    assert _rows(service, OutboxMessage) == []
    from storage import repo

    service.feed("c-9", Started(bound=True), via=Address("telegram", "99"))
    with service.db.write() as session:
        assert repo.release_waiting_work(session, "c-9", clock.now) == 1
    assert run_due_work(service, clock.now) == {"fed": 1}
    texts = [m.payload["text"] for m in _rows(service, OutboxMessage)]
    assert any("T-77" in t for t in texts)


def test_cancel_on_return(service: Service, clock: FakeClock) -> None:
    """order.returned cancels the pending delivery surveys of that order."""
    ingest_event(service.db, service.journey, _event(clock, hours_ago=1), clock.now)
    returned = _event(clock, kind="order.returned", event_id="evt-2", hours_ago=0.5)
    result = ingest_event(service.db, service.journey, returned, clock.now)
    assert result.cancelled == 2
    clock.advance(days=8)
    assert run_due_work(service, clock.now) == {}
    assert {s.status for s in _rows(service, SurveyInstance)} == {"cancelled"}


def test_claims_are_exclusive_and_leases_expire(service: Service, clock: FakeClock) -> None:
    """A claimed timer is not claimed again until its lease expires."""
    ingest_event(service.db, service.journey, _event(clock), clock.now)
    first = claim_due_work(service.db, "w1", clock.now)
    assert len(first) == 1
    assert claim_due_work(service.db, "w2", clock.now) == []
    later = clock.now + timedelta(minutes=3)
    taken_over = claim_due_work(service.db, "w2", later)
    assert [w.id for w in taken_over] == [first[0].id]
    assert taken_over[0].attempts == 2
    (work,) = [w for w in _rows(service, DueWork) if w.id == first[0].id]
    assert work.lease_owner == "w2"


def test_outbox_claims_one_message_per_chat_in_order(service: Service, clock: FakeClock) -> None:
    """Only the oldest pending message of a chat is claimable, so a chat's messages stay in order."""
    service.feed("c-1", Started(bound=True), via=CHAT)
    service.feed("c-1", CustomerText(text="help"), via=CHAT)
    service.feed("c-2", Started(bound=True), via=Address("telegram", "7"))
    batch = claim_outbox(service.db, "s1", clock.now)
    assert sorted(m.address for m in batch) == ["4242", "7"]
    assert claim_outbox(service.db, "s2", clock.now) == []


def test_start_just_before_waiting_is_not_lost(
    service: Service, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Start committed after the timer's first look but before it parks the survey still gets it asked."""
    from storage import repo

    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-race",
            "type": "ticket.closed",
            "occurred_at": (clock.now - timedelta(hours=2)).isoformat(),
            "customer": {"id": "c-race", "language": "en"},
            "ticket": {"id": "T-1"},
        }
    )
    ingest_event(service.db, service.journey, event, clock.now, quiet=None)
    service.feed("c-race", Started(bound=True), via=Address("telegram", "31"))
    real = repo.reachable_identity
    looks: list[str] = []

    def stale_first_look(session: Session, customer_id: str) -> repo.IdentityRow | None:
        looks.append(customer_id)
        return None if len(looks) == 1 else real(session, customer_id)

    monkeypatch.setattr(repo, "reachable_identity", stale_first_look)
    assert run_due_work(service, clock.now, quiet=None) == {"fed": 1}
