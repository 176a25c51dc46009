"""The engine's hand-off to a person, the closing question and review invitations (no event loop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.conversation import (
    Action,
    AgentAction,
    AgentActionKind,
    ButtonPress,
    Command,
    CommandName,
    ConversationState,
    CustomerText,
    Engine,
    MarkReviewInvited,
    OpenEscalation,
    RelayToAgent,
    Send,
    StoreClosingAnswer,
    SurveyDue,
)
from flows.escalation import EscalationRules, Priority, escalation_priority, sla_due_at
from flows.journey import DEFAULT_JOURNEY, load_journey, parse_journey
from flows.scales import Lang, Metric

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_journey(None))


def _sends(actions: list[Action]) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def _values(send: Send) -> list[str]:
    return [c.value for row in send.rows for c in row]


def _detractor(engine: Engine) -> ConversationState:
    state, _ = engine.step(ConversationState(), SurveyDue(survey_id=1, stage="delivered"), NOW)
    state, actions = engine.step(state, ButtonPress(survey_id=1, value="score:1"), NOW)
    assert any(isinstance(a, OpenEscalation) and a.priority is Priority.P1 for a in actions)
    return state


def test_detractor_thanks_offers_talk_to_a_person(engine: Engine) -> None:
    """After a detractor's answer the thanks carries a "talk to a person" button for that survey."""
    state = _detractor(engine)
    state, actions = engine.step(state, ButtonPress(survey_id=1, value="skip"), NOW)
    thanks = _sends(actions)[0]
    assert _values(thanks) == ["human"] and thanks.survey_id == 1


def test_human_button_opens_escalation_for_the_survey(engine: Engine) -> None:
    """Pressing "talk to a person" opens (or joins) the escalation of that survey's order."""
    _, actions = engine.step(ConversationState(), ButtonPress(survey_id=1, value="human"), NOW)
    escalations = [a for a in actions if isinstance(a, OpenEscalation)]
    assert len(escalations) == 1 and escalations[0].survey_id == 1
    assert _sends(actions)


def test_help_offers_talk_to_a_person(engine: Engine) -> None:
    """/help shows the help text with the "talk to a person" button."""
    _, actions = engine.step(ConversationState(), Command(name=CommandName.HELP), NOW)
    assert _values(_sends(actions)[0]) == ["human"]


def test_handoff_relays_customer_text_and_hands_back(engine: Engine) -> None:
    """While taken, the customer's words go to the agent (not the survey); hand back ends it."""
    state = _detractor(engine)
    state, actions = engine.step(state, AgentAction(action=AgentActionKind.TAKEN, escalation_id=7), NOW)
    assert state.handoff == 7 and _sends(actions)  # told a person is looking at it
    english = state.model_copy(update={"language": Lang.EN})
    _, en_actions = engine.step(english, AgentAction(action=AgentActionKind.TAKEN, escalation_id=8), NOW)
    assert "Someone" in _sends(en_actions)[0].text
    before = state.active
    state, actions = engine.step(state, CustomerText(text="the box was crushed"), NOW)
    assert actions == [RelayToAgent(escalation_id=7, text="the box was crushed", at=NOW)]
    assert state.active == before  # the survey is untouched
    state, actions = engine.step(
        state, AgentAction(action=AgentActionKind.REPLIED, escalation_id=7, text="We'll send a new one"), NOW
    )
    assert [s.text for s in _sends(actions)] == ["We'll send a new one"]
    state, actions = engine.step(state, AgentAction(action=AgentActionKind.HANDED_BACK, escalation_id=7), NOW)
    assert state.handoff is None and _sends(actions)
    _, actions = engine.step(state, CustomerText(text="grazie"), NOW)
    assert not any(isinstance(a, RelayToAgent) for a in actions)


def test_survey_due_during_handoff_waits(engine: Engine) -> None:
    """A survey that becomes due during a hand-off is queued and asked after hand-back."""
    state = ConversationState(handoff=7)
    state, actions = engine.step(state, SurveyDue(survey_id=5, stage="delivered"), NOW)
    assert state.active is None and [p.survey_id for p in state.queue] == [5]
    assert not _sends(actions)
    state, actions = engine.step(state, AgentAction(action=AgentActionKind.HANDED_BACK, escalation_id=7), NOW)
    assert state.active is not None and state.active.survey_id == 5
    assert any(s.survey_id == 5 for s in _sends(actions))


def test_resolve_asks_closing_question_and_no_reopens(engine: Engine) -> None:
    """Resolving asks "did we solve it?" with Yes/No; the answer is stored once; "no" is kept."""
    state = ConversationState(handoff=7)
    state, actions = engine.step(state, AgentAction(action=AgentActionKind.RESOLVED, escalation_id=7), NOW)
    assert state.handoff is None and state.closing == 7
    assert _values(_sends(actions)[0]) == ["solved:yes", "solved:no"]
    state, actions = engine.step(state, ButtonPress(survey_id=None, value="solved:no"), NOW)
    assert actions[0] == StoreClosingAnswer(escalation_id=7, solved=False, at=NOW)
    assert state.closing is None
    _, again = engine.step(state, ButtonPress(survey_id=None, value="solved:yes"), NOW)
    assert not any(isinstance(a, StoreClosingAnswer) for a in again)  # a stale second tap


def _promoter(
    engine: Engine, state: ConversationState, survey_id: int, now: datetime
) -> tuple[ConversationState, list[Action]]:
    state, _ = engine.step(state, SurveyDue(survey_id=survey_id, stage="repurchase"), now)
    state, _ = engine.step(state, ButtonPress(survey_id=survey_id, value="score:10"), now)
    return engine.step(state, ButtonPress(survey_id=survey_id, value="skip"), now)


def test_review_invitation_once_per_period(engine: Engine) -> None:
    """The review invitation goes out once per 90 days, then again after the period."""
    state, actions = _promoter(engine, ConversationState(), 1, NOW)
    assert any(isinstance(a, MarkReviewInvited) for a in actions) and state.review_invited_at == NOW
    state, actions = _promoter(engine, state, 2, NOW + timedelta(days=30))
    assert not any(isinstance(a, MarkReviewInvited) for a in actions)
    assert not any("g.page" in s.text for s in _sends(actions))
    state, actions = _promoter(engine, state, 3, NOW + timedelta(days=91))
    assert any(isinstance(a, MarkReviewInvited) for a in actions)


def test_detractor_is_invited_too(engine: Engine) -> None:
    """No review gating: a detractor of the relationship NPS is invited as well."""
    state, _ = engine.step(ConversationState(), SurveyDue(survey_id=1, stage="repurchase"), NOW)
    state, _ = engine.step(state, ButtonPress(survey_id=1, value="score:2"), NOW)
    _, actions = engine.step(state, ButtonPress(survey_id=1, value="skip"), NOW)
    assert any(isinstance(a, MarkReviewInvited) for a in actions)


def test_thresholds_come_from_the_journey() -> None:
    """An ``escalation:`` section changes the thresholds; the defaults match CX_METHOD §3."""
    assert escalation_priority(Metric.NPS, 4, False) is Priority.P1
    assert escalation_priority(Metric.NPS, 6, False) is Priority.P2
    assert escalation_priority(Metric.NPS, 7, False) is None
    rules = EscalationRules(p1_max={Metric.NPS: 2}, p2_max={Metric.NPS: 4})
    assert escalation_priority(Metric.NPS, 4, False, (), rules) is Priority.P2
    text = DEFAULT_JOURNEY.read_text(encoding="utf-8")
    journey = parse_journey(text + "\nescalation:\n  p1_max: {nps: 2}\n  p2_max: {nps: 4}\n")
    assert journey.escalation.p1_max == {Metric.NPS: 2}
    engine = Engine(journey)
    state, _ = engine.step(ConversationState(), SurveyDue(survey_id=1, stage="first_use"), NOW)
    _, actions = engine.step(state, ButtonPress(survey_id=1, value="score:4"), NOW)
    assert [a.priority for a in actions if isinstance(a, OpenEscalation)] == [Priority.P2]


def test_p1_sla_counts_business_hours() -> None:
    """P1 is due within 4 business hours (Mon–Fri 09–18); P2 within 48 calendar hours."""
    from zoneinfo import ZoneInfo

    rome = ZoneInfo("Europe/Rome")
    friday_5pm = datetime(2026, 11, 20, 17, 0, tzinfo=rome)
    due = sla_due_at(friday_5pm, Priority.P1, EscalationRules(), rome)
    assert due == datetime(2026, 11, 23, 12, 0, tzinfo=rome)  # 1 h Friday + 3 h Monday
    saturday = datetime(2026, 11, 21, 11, 0, tzinfo=rome)
    assert sla_due_at(saturday, Priority.P1, EscalationRules(), rome) == datetime(
        2026, 11, 23, 13, 0, tzinfo=rome
    )
    assert sla_due_at(saturday, Priority.P2, EscalationRules(), rome) == saturday + timedelta(hours=48)
