"""One case per customer and order: what joins it, what opens another, who is pinged."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.engine.service import Service
from bot.escalations import desk
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from flows.conversation import ButtonPress, CustomerText, SurveyDue
from storage.tables import Escalation, OutboxMessage, SurveyInstance
from tests.bot.escalations.conftest import CHAT, detractor, make_app, make_settings
from tests.clocks import FakeClock


def _cases(service: Service) -> list[Escalation]:
    with service.db.read() as session:
        return list(session.exec(select(Escalation).order_by(col(Escalation.id))))


def _outbox(service: Service, kind: str) -> list[OutboxMessage]:
    with service.db.read() as session:
        return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == kind)))


def test_complaint_typed_after_the_reason_joins_the_case(service: Service, clock: FakeClock) -> None:
    """Low score, reason chip, typed complaint: one case with the order, stage, topic and words, P1."""
    make_app(service, make_settings())
    survey_id = detractor(service, clock, "score:2")
    service.feed("c-42", ButtonPress(survey_id=survey_id, value="reason:damaged"), via=CHAT)
    service.feed("c-42", CustomerText(text="la scatola era distrutta"), via=CHAT)
    (case,) = _cases(service)
    assert (case.order_id, case.stage, case.priority) == ("1001", "delivered", "p1")
    assert "damaged" in case.topics and case.texts == ["la scatola era distrutta"]
    assert len({m.dedupe_key for m in _outbox(service, "agent_card")}) == case.card_version >= 3


def test_text_without_an_order_opens_a_case_naming_the_latest_order(
    service: Service, clock: FakeClock
) -> None:
    """A complaint out of the blue names the order and stage the customer was last asked about."""
    make_app(service, make_settings())
    survey_id = detractor(service, clock, "score:5")
    service.feed("c-42", ButtonPress(survey_id=survey_id, value="skip"), via=CHAT)
    assert _cases(service) == []
    service.feed("c-42", CustomerText(text="voglio parlare con un operatore, il pacco è rotto"), via=CHAT)
    (case,) = _cases(service)
    assert (case.order_id, case.stage) == ("1001", "delivered")


def test_another_order_opens_another_case(service: Service, clock: FakeClock) -> None:
    """A low score on a second order opens its own case; the first stays as it was."""
    make_app(service, make_settings())
    detractor(service, clock, "score:1")
    clock.advance(days=8)
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-2",
            "type": "order.delivered",
            "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-42", "language": "it", "telegram_chat_id": 4242},
            "order": {"id": "2002"},
        }
    )
    ingest_event(service.db, service.journey, event, clock.now, quiet=None)
    with service.db.read() as session:
        second = session.exec(select(SurveyInstance).where(col(SurveyInstance.order_id) == "2002")).first()
    assert second is not None and second.id is not None
    # Surveys wait while a case is open; this one is asked anyway to see where its answer goes.
    service.feed("c-42", SurveyDue(survey_id=second.id, stage="delivered"), via=CHAT)
    service.feed("c-42", ButtonPress(survey_id=second.id, value="score:1"), via=CHAT)
    assert [c.order_id for c in _cases(service)] == ["1001", "2002"]


def test_agent_holding_the_case_is_pinged(service: Service, clock: FakeClock) -> None:
    """Words added to a taken case edit its card and ping the agent who holds it."""
    app, config = make_app(service, make_settings())
    survey_id = detractor(service, clock, "score:1")
    (case,) = _cases(service)
    assert case.id is not None
    desk.take(app, config, case.id, "@giorgia", clock.now)
    desk.hand_back(app, config, case.id, "@giorgia", clock.now)
    desk.take(app, config, case.id, "@giorgia", clock.now)
    service.feed("c-42", ButtonPress(survey_id=None, value="human"), via=CHAT)
    notes = [m.payload["text"] for m in _outbox(service, "agent_message")]
    assert any("@giorgia" in n and "asked to talk to a person" in n for n in notes)
    assert survey_id and len(_cases(service)) == 1


def test_resolving_the_case_lets_a_new_one_open(service: Service, clock: FakeClock) -> None:
    """After the case is resolved, a new complaint opens a new case (the state no longer says open)."""
    app, config = make_app(service, make_settings())
    detractor(service, clock, "score:1")
    (case,) = _cases(service)
    assert case.id is not None
    desk.resolve(app, config, case.id, "@giorgia", clock.now)
    service.feed("c-42", ButtonPress(survey_id=None, value="solved:yes"), via=CHAT)
    state = service.state_of("c-42")
    assert state is not None and not state.case_open
    service.feed("c-42", CustomerText(text="il rimborso non è ancora arrivato, è uno scandalo"), via=CHAT)
    assert [c.status for c in _cases(service)] == ["resolved", "open"]
