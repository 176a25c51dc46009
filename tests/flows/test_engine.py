"""The conversation state machine: every transition, without an event loop or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from flows.conversation import (
    Action,
    ButtonPress,
    Command,
    CommandName,
    ConversationState,
    CustomerText,
    Engine,
    Inbound,
    MarkOptOut,
    MarkSurvey,
    OpenEscalation,
    Phase,
    ReminderDue,
    ScheduleTimer,
    Send,
    SetLanguage,
    Started,
    StoreComment,
    StoreResponse,
    SurveyDue,
    SurveyExpired,
    SurveyStatus,
    TimerKind,
)
from flows.escalation import Priority
from flows.journey import load_journey
from flows.scales import Lang

T0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
A = TypeVar("A", bound=Action)
ENGINE = Engine(load_journey(None))


def due(survey_id: int = 1, stage: str = "delivered", **placeholders: str) -> SurveyDue:
    return SurveyDue(survey_id=survey_id, stage=stage, placeholders=placeholders or {"order": "1001"})


def run(
    state: ConversationState, *events: Inbound, now: datetime = T0
) -> tuple[ConversationState, list[Action]]:
    """Feed events in order; return the final state and all actions."""
    actions: list[Action] = []
    for event in events:
        state, more = ENGINE.step(state, event, now)
        actions += more
    return state, actions


def sends(actions: list[Action]) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def of(actions: list[Action], kind: type[A]) -> list[A]:
    return [a for a in actions if isinstance(a, kind)]


def asked(lang: Lang = Lang.IT, stage: str = "delivered", survey_id: int = 1) -> ConversationState:
    state, _ = run(ConversationState(language=lang), due(survey_id, stage))
    return state


def test_due_survey_asks_the_stage_question_with_buttons_and_timers() -> None:
    """A due survey sends the question with its buttons, marks it sent, schedules expiry and reminder."""
    state, actions = run(ConversationState(), due())
    (send,) = sends(actions)
    assert "n. 1001" in send.text and "da 1 (per niente) a 5 (moltissimo)" in send.text
    assert [c.value for c in send.rows[0]] == [f"score:{n}" for n in range(1, 6)]
    assert send.survey_id == 1
    assert of(actions, MarkSurvey)[0].status is SurveyStatus.SENT
    timers = {t.timer: t.at for t in of(actions, ScheduleTimer)}
    assert timers == {
        TimerKind.EXPIRY: T0 + timedelta(hours=72),
        TimerKind.REMINDER: T0 + timedelta(hours=24),
    }
    assert state.active is not None and state.active.phase is Phase.SCORE


def test_nps_buttons_are_two_rows() -> None:
    """NPS 0–10 is shown as two rows of buttons."""
    _, actions = run(ConversationState(language=Lang.EN), due(stage="first_use"))
    (send,) = sends(actions)
    assert [len(row) for row in send.rows] == [6, 5]
    assert "0 (not at all likely) to 10 (extremely likely)" in send.text


def test_typed_score_is_stored_then_follow_up_asked() -> None:
    """A typed score is stored and the follow-up offers reason buttons and Skip."""
    state, actions = run(asked(), CustomerText(text="quattro"))
    (store,) = of(actions, StoreResponse)
    assert (store.score, store.stage, store.metric.value, store.language) == (4, "delivered", "csat", Lang.IT)
    (send,) = sends(actions)
    assert "motivo principale" in send.text
    values = [c.value for row in send.rows for c in row]
    assert values[-1] == "skip" and "reason:fast" in values  # 4/5: the positive chips
    assert state.active is not None and state.active.phase is Phase.REASON
    assert of(actions, OpenEscalation) == []


def test_reason_button_stores_reason_and_thanks() -> None:
    """Tapping a reason stores it with its topic and thanks; the survey closes."""
    state, _ = run(asked(), ButtonPress(survey_id=1, value="score:5"))
    state, actions = run(state, ButtonPress(survey_id=1, value="reason:fast"))  # 5/5: positive chips
    (comment,) = of(actions, StoreComment)
    assert comment.reason == "fast" and [t.value for t in comment.topics] == ["fast_delivery"]
    assert sends(actions)[0].text == "Grazie, ci aiuta molto!"
    assert state.active is None


def test_free_text_reason_is_analysed_and_escalated_when_negative() -> None:
    """A typed reason is stored; a negative one escalates even after a good score."""
    state, _ = run(asked(), CustomerText(text="5"))
    state, actions = run(state, CustomerText(text="bello ma il pacco era distrutto"))
    (comment,) = of(actions, StoreComment)
    assert comment.negative
    (escalation,) = of(actions, OpenEscalation)
    assert escalation.priority is Priority.P1
    assert "team" in sends(actions)[0].text


def test_skip_thanks_without_storing_a_comment() -> None:
    """Skip closes the survey with thanks and stores no comment."""
    state, _ = run(asked(), CustomerText(text="4"))
    state, actions = run(state, ButtonPress(survey_id=1, value="skip"))
    assert of(actions, StoreComment) == []
    assert state.active is None and sends(actions)


def test_negative_score_escalates_with_tier() -> None:
    """CSAT 1 opens a P1 escalation, CSAT 2 a P2; the follow-up is still asked."""
    _, p1 = run(asked(), ButtonPress(survey_id=1, value="score:1"))
    _, p2 = run(asked(), ButtonPress(survey_id=1, value="score:2"))
    assert of(p1, OpenEscalation)[0].priority is Priority.P1
    assert of(p2, OpenEscalation)[0].priority is Priority.P2
    assert "motivo" in sends(p1)[0].text


def test_score_with_comment_finishes_at_once() -> None:
    """A score with words needs no follow-up: stored with the comment, thanked, escalated if negative."""
    state, actions = run(asked(), CustomerText(text="3, il corriere è arrivato con tre giorni di ritardo"))
    (store,) = of(actions, StoreResponse)
    assert store.score == 3 and store.comment and store.negative
    assert of(actions, OpenEscalation)[0].priority is Priority.P2
    assert state.active is None


def test_unclear_reply_is_reasked_once_then_kept_as_comment() -> None:
    """An unclear reply is re-asked once; a second unclear reply is kept as a comment and not re-asked."""
    state, first = run(asked(), CustomerText(text="abbastanza bene"))
    assert sends(first)[0].text.startswith("Scusa, non ho capito.")
    assert sends(first)[0].rows  # the buttons again
    assert state.active is not None and state.active.reasks == 1
    state, second = run(state, CustomerText(text="tra 3 e 4"))
    assert of(second, StoreComment)[0].comment == "tra 3 e 4"
    assert of(second, MarkSurvey)[0].status is SurveyStatus.COMMENTED
    assert state.active is None


def test_contradiction_is_confirmed_with_the_scale_direction() -> None:
    """'1, facilissimo!' on CES is not stored: the bot explains the scale and asks again."""
    _, actions = run(asked(stage="ticket_closed"), CustomerText(text="1, facilissimo!"))
    assert of(actions, StoreResponse) == []
    assert "da 1 a 7, 1 è il voto peggiore e 7 il migliore" in sends(actions)[0].text


def test_refusal_stores_nothing_and_moves_on() -> None:
    """'boh' is honoured: nothing stored, survey refused, polite reply."""
    state, actions = run(asked(), CustomerText(text="boh"))
    assert of(actions, StoreResponse) == [] and of(actions, StoreComment) == []
    assert of(actions, MarkSurvey)[0].status is SurveyStatus.REFUSED
    assert "non insisto" in sends(actions)[0].text
    assert state.active is None


@pytest.mark.parametrize("event", [CustomerText(text="STOP"), Command(name=CommandName.STOP)])
def test_opt_out_clears_everything_and_confirms(event: Inbound) -> None:
    """'stop' opts out, skips the open and queued surveys, and confirms; later surveys are skipped."""
    state, _ = run(asked(), due(2, "ticket_closed"))
    state, actions = run(state, event)
    assert of(actions, MarkOptOut)
    assert {m.survey_id for m in of(actions, MarkSurvey)} == {1, 2}
    assert "non riceverai più sondaggi" in sends(actions)[0].text
    assert state.opted_out and state.active is None and state.queue == ()
    state, later = run(state, due(3, "first_use"))
    assert sends(later) == [] and of(later, MarkSurvey)[0].status is SurveyStatus.SKIPPED


@pytest.mark.parametrize(
    ("lang", "expected"), [(Lang.IT, "Non riceverai più sondaggi"), (Lang.EN, "won't receive")]
)
def test_text_after_opt_out_says_no_more_surveys(lang: Lang, expected: str) -> None:
    """After /stop, a typed "3" is answered with the opt-out and how to resume, never "I'll write"."""
    state, _ = run(ConversationState(language=lang), Command(name=CommandName.STOP))
    state, actions = run(state, CustomerText(text="3"))
    (reply,) = sends(actions)
    assert expected in reply.text and "/start" in reply.text
    assert "Ti scriverò" not in reply.text and "I'll write" not in reply.text
    assert state.opted_out


def test_start_after_opt_out_opts_back_in() -> None:
    """/start after an opt-out welcomes the customer back (gender-neutral Italian)."""
    state, _ = run(ConversationState(), Command(name=CommandName.STOP))
    state, actions = run(state, Started(bound=True))
    assert not state.opted_out and "Che bello rivederti!" in sends(actions)[0].text


def test_language_switch_reasks_in_the_new_language() -> None:
    """Switching language confirms in the new language and repeats the open question in it."""
    state, actions = run(asked(), Command(name=CommandName.LANGUAGE, argument="en"))
    assert of(actions, SetLanguage)[0].language is Lang.EN
    texts = [s.text for s in sends(actions)]
    assert texts[0] == "Got it, I'll write to you in English."
    assert "How satisfied are you with the delivery" in texts[1]
    assert state.language is Lang.EN


def test_language_command_without_argument_offers_buttons() -> None:
    """/language alone offers Italiano / English buttons; tapping one switches."""
    state, actions = run(ConversationState(), Command(name=CommandName.LANGUAGE))
    assert [c.value for c in sends(actions)[0].rows[0]] == ["lang:it", "lang:en"]
    state, actions = run(state, ButtonPress(survey_id=None, value="lang:en"))
    assert state.language is Lang.EN


def test_typed_language_request_switches() -> None:
    """'in english please' switches the language."""
    state, _ = run(asked(), CustomerText(text="in english please"))
    assert state.language is Lang.EN


def test_help_keeps_the_question_open() -> None:
    """/help explains, and the open question stays open."""
    state, actions = run(asked(), Command(name=CommandName.HELP))
    assert "/lingua" in sends(actions)[0].text
    assert state.active is not None and state.active.survey_id == 1


def test_surveys_queue_one_at_a_time_by_priority() -> None:
    """While a question is open new ones queue, highest priority first, and are asked in turn."""
    state = asked(stage="first_use", survey_id=1)
    state, actions = run(state, due(2, "repurchase"), due(3, "ticket_closed"))
    assert sends(actions) == []
    assert [p.survey_id for p in state.queue] == [3, 2]
    assert {m.status for m in of(actions, MarkSurvey)} == {SurveyStatus.QUEUED}
    state, actions = run(state, CustomerText(text="9, ottimo caffè"))
    assert "richiesta n." in sends(actions)[-1].text  # support CES asked next
    assert state.active is not None and state.active.survey_id == 3


def test_repeated_due_timer_is_ignored() -> None:
    """The same due survey fed twice is asked once."""
    state, actions = run(ConversationState(), due(), due())
    assert len(sends(actions)) == 1 and state.queue == ()


def test_reminder_once_and_only_when_unanswered() -> None:
    """One reminder repeats the question; a second one, or one after an answer, does nothing."""
    state, actions = run(asked(), ReminderDue(survey_id=1), now=T0 + timedelta(hours=24))
    assert sends(actions)[0].text.startswith("Un piccolo promemoria")
    state, again = run(state, ReminderDue(survey_id=1), now=T0 + timedelta(hours=25))
    assert again == []
    answered, _ = run(asked(), CustomerText(text="5"))
    _, none = run(answered, ReminderDue(survey_id=1), now=T0 + timedelta(hours=24))
    assert none == []


def test_expiry_closes_and_asks_the_next() -> None:
    """Expiry marks the survey expired and asks the next queued one."""
    state, _ = run(asked(), due(2, "ticket_closed"))
    state, actions = run(state, SurveyExpired(survey_id=1), now=T0 + timedelta(hours=72))
    assert of(actions, MarkSurvey)[0].status is SurveyStatus.EXPIRED
    assert state.active is not None and state.active.survey_id == 2


def test_answer_after_expiry_is_kept_as_comment_never_reasked() -> None:
    """A reply after the answer window is stored as a late comment, not as a score, and not re-asked."""
    state, actions = run(asked(), CustomerText(text="5"), now=T0 + timedelta(hours=73))
    assert of(actions, StoreResponse) == []
    (comment,) = of(actions, StoreComment)
    assert comment.late and comment.comment == "5"
    assert "ormai chiusa" in sends(actions)[-1].text
    assert state.active is None


def test_stale_or_foreign_button_changes_nothing() -> None:
    """A button of another survey, or a score button during the follow-up, changes nothing and says so."""
    state = asked()
    after, actions = run(state, ButtonPress(survey_id=99, value="score:5"))
    assert after == state and sends(actions)[0].text == "Questa domanda è già chiusa."
    reason_phase, _ = run(state, CustomerText(text="4"))
    after, actions = run(reason_phase, ButtonPress(survey_id=1, value="score:1"))
    assert after == reason_phase and of(actions, StoreResponse) == []


def test_out_of_range_button_is_refused() -> None:
    """A forged score outside the scale is not stored."""
    state = asked()
    after, actions = run(state, ButtonPress(survey_id=1, value="score:9"))
    assert after == state and of(actions, StoreResponse) == []


def test_complaint_with_no_question_open_reaches_a_human() -> None:
    """A complaint when nothing is asked is kept and escalated (P1 for a parcel never received)."""
    _, actions = run(ConversationState(), CustomerText(text="Non ho ancora ricevuto niente!"))
    assert of(actions, OpenEscalation)[0].priority is Priority.P1
    assert of(actions, StoreComment)[0].survey_id is None
    assert "Mi dispiace" in sends(actions)[0].text


def test_negative_text_without_score_is_escalated_not_reasked() -> None:
    """'Mai arrivato!' to the delivery question is a logistics alarm: escalated P1, not re-asked."""
    state, actions = run(asked(), CustomerText(text="Mai arrivato!"))
    assert of(actions, OpenEscalation)[0].priority is Priority.P1
    assert of(actions, MarkSurvey)[0].status is SurveyStatus.COMMENTED
    assert state.active is None


def test_review_invitation_for_every_score_and_referral_for_promoters() -> None:
    """After the repurchase NPS everyone is invited to review; only 9–10 also get the referral link."""
    for score, referral in ((3, False), (10, True)):
        state, _ = run(asked(stage="repurchase"), ButtonPress(survey_id=1, value=f"score:{score}"))
        _, actions = run(state, ButtonPress(survey_id=1, value="skip"))
        texts = " ".join(s.text for s in sends(actions))
        assert "recensione" in texts
        assert ("Conosci qualcuno" in texts) is referral


def test_idle_text_gets_a_friendly_answer() -> None:
    """Small talk with nothing pending gets 'no question right now'; a greeting gets the welcome."""
    _, actions = run(ConversationState(language=Lang.EN), CustomerText(text="what time is it"))
    assert "no question for you right now" in sends(actions)[0].text
    _, actions = run(ConversationState(language=Lang.EN), CustomerText(text="hello"))
    assert "assistant" in sends(actions)[0].text


def test_state_round_trips_through_json() -> None:
    """The state is JSON-serialisable and restores equal (conversations survive restarts)."""
    state, _ = run(asked(), due(2, "ticket_closed"), CustomerText(text="4"))
    restored = ConversationState.model_validate_json(state.model_dump_json())
    assert restored == state


@pytest.mark.parametrize(
    "event", [Command(name=CommandName.PRIVACY), CustomerText(text="cancella i miei dati per favore")]
)
def test_privacy_request_explains_and_offers_erasure(event: Inbound) -> None:
    """/privacy or 'cancella i miei dati' explains what is kept and offers erasure; the survey stays open."""
    state, actions = run(asked(), event)
    (send,) = sends(actions)
    assert "Conserviamo il tuo nome" in send.text
    assert [c.value for c in send.rows[0]] == ["privacy:erase"]
    assert state.active is not None


def test_erase_button_erases_and_stops_surveys() -> None:
    """Tapping 'erase my data' erases, skips open surveys, confirms, and later surveys are skipped."""
    from flows.conversation import EraseCustomer

    state, actions = run(asked(lang=Lang.EN), ButtonPress(survey_id=None, value="privacy:erase"))
    assert of(actions, EraseCustomer)
    assert of(actions, MarkSurvey)[0].status is SurveyStatus.SKIPPED
    assert "personal data has been erased" in sends(actions)[0].text
    assert state.opted_out and state.active is None
    _, later = run(state, due(5, "first_use"))
    assert sends(later) == []


def test_reasons_follow_the_score_band() -> None:
    """After 1/5 the chips are complaints, after 3/5 what could be better, after 5/5 what worked."""

    def chips(score: str) -> list[str]:
        _, actions = run(asked(), ButtonPress(survey_id=1, value=score))
        return [c.label for row in sends(actions)[-1].rows for c in row]

    assert chips("score:1")[:3] == ["In ritardo", "Pacco danneggiato", "Corriere"]
    assert chips("score:3")[:2] == ["Un po' in ritardo", "Imballaggio"]
    assert chips("score:5")[:3] == ["Consegna veloce", "Ben imballato", "Corriere gentile"]
    assert all(c[-1] == "Salta" for c in (chips("score:1"), chips("score:5")))


def test_a_chip_of_another_band_is_not_accepted() -> None:
    """A positive chip pressed after a low score (a forged or stale button) stores nothing."""
    state, _ = run(asked(), ButtonPress(survey_id=1, value="score:1"))
    _, actions = run(state, ButtonPress(survey_id=1, value="reason:fast"))
    assert of(actions, StoreComment) == []


def test_reask_names_the_scale() -> None:
    """ "10!" on the 1-5 scale is re-asked naming the range, in Italian and in English."""
    _, actions = run(asked(), CustomerText(text="10!"))
    assert "da 1 a 5" in sends(actions)[0].text
    _, actions = run(asked(Lang.EN), CustomerText(text="10!"))
    assert "from 1 to 5" in sends(actions)[0].text


def test_skip_is_acknowledged_as_a_skip() -> None:
    """Skip on the reason question is an action of its own (channels show it as a skip), then thanks."""
    state, _ = run(asked(), ButtonPress(survey_id=1, value="score:4"))
    state, actions = run(state, ButtonPress(survey_id=1, value="skip"))
    assert [a.kind for a in actions][:2] == ["reason_skipped", "send"]
    assert state.active is None
