"""Late replies are kept as comments; the review invitation does not wait for the reason (fixed clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.engine.apply import Address
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from flows.conversation import ButtonPress, CustomerText
from storage.tables import Escalation, OutboxMessage, Response, SurveyInstance
from tests.clocks import FakeClock

CHAT = Address("telegram", "4242")


def _ingest(service: Service, clock: FakeClock, kind: str, event_id: str, ago: timedelta) -> None:
    event = BusinessEventIn.model_validate(
        {
            "event_id": event_id,
            "type": kind,
            "occurred_at": (clock.now - ago).isoformat(),
            "customer": {"id": "c-42", "language": "it", "timezone": "Europe/Rome", "telegram_chat_id": 4242},
            "order": {"id": "1001", "items": [{"name": "Moka"}]},
        }
    )
    ingest_event(service.db, service.journey, event, clock.now, quiet=None)


def _texts(service: Service) -> list[str]:
    with service.db.read() as session:
        return [
            m.payload.get("text", "")
            for m in session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        ]


def _survey(service: Service, stage: str) -> SurveyInstance:
    with service.db.read() as session:
        return session.exec(select(SurveyInstance).where(col(SurveyInstance.stage) == stage)).one()


def test_late_reply_after_the_expiry_timer_is_kept_as_a_comment(service: Service, clock: FakeClock) -> None:
    """After the expiry has run, "4, corriere gentile" is a late comment on that survey, never a score."""
    clock.now = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    _ingest(service, clock, "order.delivered", "e-1", timedelta(hours=3))
    run_due_work(service, clock.now, quiet=None)
    clock.advance(hours=73)
    run_due_work(service, clock.now, quiet=None)  # the reminder, then the expiry
    survey = _survey(service, "delivered")
    assert survey.status == "expired"
    service.feed("c-42", CustomerText(text="4, corriere gentile"), via=CHAT, now=clock.now)
    with service.db.read() as session:
        (response,) = session.exec(select(Response)).all()
    assert (response.survey_id, response.stage, response.score, response.late) == (
        survey.id,
        "delivered",
        None,
        True,
    )
    assert response.comment == "4, corriere gentile"
    assert "ormai chiusa" in _texts(service)[-1]


def test_negative_late_reply_is_escalated_with_its_order(service: Service, clock: FakeClock) -> None:
    """A negative reply after the expiry opens a case naming the survey's order and stage."""
    clock.now = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    _ingest(service, clock, "order.delivered", "e-1", timedelta(hours=3))
    run_due_work(service, clock.now, quiet=None)
    clock.advance(hours=80)
    run_due_work(service, clock.now, quiet=None)
    service.feed(
        "c-42", CustomerText(text="il pacco è arrivato rotto, pessimo servizio"), via=CHAT, now=clock.now
    )
    with service.db.read() as session:
        (case,) = session.exec(select(Escalation)).all()
        (response,) = session.exec(select(Response)).all()
    assert (case.order_id, case.stage) == ("1001", "delivered")
    assert response.late and response.negative and response.score is None


def test_reply_after_the_late_window_is_not_attached(service: Service, clock: FakeClock) -> None:
    """Past the stage's late window a reply is an ordinary message: no late comment is stored."""
    clock.now = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    _ingest(service, clock, "order.delivered", "e-1", timedelta(hours=3))
    run_due_work(service, clock.now, quiet=None)
    clock.advance(hours=73)
    run_due_work(service, clock.now, quiet=None)
    clock.advance(days=8)
    service.feed("c-42", CustomerText(text="4, corriere gentile"), via=CHAT, now=clock.now)
    with service.db.read() as session:
        assert session.exec(select(Response)).all() == []


def test_review_invitation_without_a_reason(service: Service, clock: FakeClock) -> None:
    """A repurchase score whose reason question is ignored still gets the review invitation on time."""
    clock.now = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    _ingest(service, clock, "order.repurchased", "e-r", timedelta(days=1, hours=1))
    run_due_work(service, clock.now, quiet=None)
    survey = _survey(service, "repurchase")
    assert survey.status == "sent" and survey.id is not None
    service.feed("c-42", ButtonPress(survey_id=survey.id, value="score:7"), via=CHAT, now=clock.now)
    assert not any("recensione" in t for t in _texts(service))
    clock.advance(hours=23)
    run_due_work(service, clock.now, quiet=None)
    assert not any("recensione" in t for t in _texts(service))
    clock.advance(hours=2)
    run_due_work(service, clock.now, quiet=None)
    assert sum("recensione" in t for t in _texts(service)) == 1
    # Answering the reason later does not invite a second time.
    service.feed("c-42", ButtonPress(survey_id=survey.id, value="reason:product"), via=CHAT, now=clock.now)
    assert sum("recensione" in t for t in _texts(service)) == 1
