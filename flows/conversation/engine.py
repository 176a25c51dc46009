"""The conversation state machine: ``Engine(journey).step(state, inbound, now)``.

Pure: no I/O, no clock. Each inbound kind has one handler (see ``_HANDLERS``); stage
differences come from the journey data, never from code branches per stage.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flows.conversation import handoff as desk
from flows.conversation.actions import (
    Action,
    Choice,
    EraseCustomer,
    MarkOptIn,
    MarkOptOut,
    MarkReviewInvited,
    MarkSurvey,
    OpenEscalation,
    ReasonSkipped,
    RelayToAgent,
    ScheduleTimer,
    Send,
    SetLanguage,
    StoreClosingAnswer,
    StoreComment,
    StoreResponse,
    TimerKind,
)
from flows.conversation.inbound import (
    AgentAction,
    AgentActionKind,
    ButtonPress,
    Command,
    CommandName,
    CustomerMedia,
    CustomerText,
    Inbound,
    ReasonTimeout,
    ReminderDue,
    Started,
    SurveyDue,
    SurveyExpired,
)
from flows.conversation.render import fill, language_rows, reason_rows, score_rows
from flows.conversation.state import (
    ActiveSurvey,
    ConversationState,
    LateSurvey,
    PendingSurvey,
    Phase,
    SurveyStatus,
)
from flows.escalation import Priority, escalation_priority
from flows.journey import Journey, Texts
from flows.scales import Lang, Metric, Sentiment, sentiment
from flows.topics import Topic
from flows.understanding import Intent, ReaskReason, Understanding, analyse_comment, understand

Result = tuple[ConversationState, list[Action]]

#: Why a survey that waited in the queue (behind another, or during a case) was never asked.
EXPIRED_IN_QUEUE = "expired_in_queue"

#: How many recently expired questions a late reply may still be about.
MAX_LATE = 5

#: The choice value of the "erase my data" button.
PRIVACY_ERASE = "privacy:erase"


class Engine:
    """Runs conversations for one journey."""

    def __init__(self, journey: Journey) -> None:
        self.journey = journey

    # -- entry point -------------------------------------------------------------------------

    def step(self, state: ConversationState, inbound: Inbound, now: datetime) -> Result:
        """Return the new state and the actions that ``inbound`` at ``now`` leads to."""
        handler = _HANDLERS[type(inbound)]
        new_state, actions = handler(self, state, inbound, now)
        if not new_state.case_open and any(isinstance(a, OpenEscalation) for a in actions):
            new_state = new_state.model_copy(update={"case_open": True})
        return new_state, actions

    # -- helpers -----------------------------------------------------------------------------

    def _say(self, texts: Texts, lang: Lang, placeholders: dict[str, str] | None = None) -> Send:
        return Send(text=fill(self.journey, texts, lang, placeholders))

    def _question(self, state: ConversationState, active: ActiveSurvey, *, prefix: str = "") -> Send:
        stage = self.journey.stage(active.stage)
        lang = state.language
        if active.phase is Phase.REASON:
            text = fill(self.journey, stage.follow_up, lang, active.placeholders)
            rows = reason_rows(stage, self.journey.messages.skip_label, lang, _band(active))
        else:
            text = fill(self.journey, stage.question, lang, active.placeholders)
            rows = score_rows(stage.metric)
        return Send(text=f"{prefix}\n{text}" if prefix else text, rows=rows, survey_id=active.survey_id)

    def _ask(self, state: ConversationState, pending: PendingSurvey, now: datetime) -> Result:
        stage = self.journey.stage(pending.stage)
        active = ActiveSurvey(
            survey_id=pending.survey_id,
            stage=stage.id,
            metric=stage.metric,
            asked_at=now,
            expires_at=now + stage.expiry,
            placeholders=pending.placeholders,
        )
        state = state.model_copy(update={"active": active})
        actions: list[Action] = [
            self._question(state, active),
            MarkSurvey(survey_id=active.survey_id, status=SurveyStatus.SENT, at=now),
            ScheduleTimer(timer=TimerKind.EXPIRY, survey_id=active.survey_id, at=active.expires_at),
        ]
        if stage.reminder is not None:
            actions.append(
                ScheduleTimer(timer=TimerKind.REMINDER, survey_id=active.survey_id, at=now + stage.reminder)
            )
        return state, actions

    def _next(self, state: ConversationState, now: datetime) -> Result:
        """Close the open survey and ask the next queued one still in time, if any (not while
        with an agent); queued surveys past their deadline are recorded as expired, never asked."""
        stale = [p for p in state.queue if p.deadline is not None and now >= p.deadline]
        expired: list[Action] = [
            MarkSurvey(survey_id=p.survey_id, status=SurveyStatus.EXPIRED, at=now, reason=EXPIRED_IN_QUEUE)
            for p in stale
        ]
        queue = tuple(p for p in state.queue if p not in stale)
        state = state.model_copy(update={"queue": queue})
        if not state.queue or state.handoff is not None or state.closing is not None:
            return state.model_copy(update={"active": None}), expired
        head, rest = state.queue[0], state.queue[1:]
        state, actions = self._ask(state.model_copy(update={"active": None, "queue": rest}), head, now)
        return state, expired + actions

    def _finish(
        self, state: ConversationState, active: ActiveSurvey, now: datetime, *, escalated: bool
    ) -> Result:
        """Thank the customer (with the review invitation where the stage has one) and move on."""
        lang = state.language
        messages = self.journey.messages
        if escalated:
            # A detractor can ask for a person straight away (joins the order's escalation).
            thanks = self._say(messages.thanks_negative, lang).model_copy(
                update={"rows": desk.human_rows(lang), "survey_id": active.survey_id}
            )
        else:
            thanks = self._say(messages.thanks, lang)
        actions: list[Action] = [thanks]
        # Everyone is invited, whatever the score: inviting only promoters is review gating.
        state, invitation = self._invite(state, active, now)
        actions += invitation
        state, more = self._next(state, now)
        return state, actions + more

    def _was_negative(self, active: ActiveSurvey) -> bool:
        rules = self.journey.escalation
        return (
            active.score is not None
            and escalation_priority(active.metric, active.score, False, (), rules) is not None
        )

    def _may_invite(self, state: ConversationState, now: datetime) -> bool:
        """Return True when a review invitation may go out (a link, not opted out, once per period)."""
        if not self.journey.review_link or state.opted_out:
            return False
        last = state.review_invited_at
        return last is None or now - last >= timedelta(days=self.journey.escalation.review_every_days)

    def _escalate(
        self,
        active: ActiveSurvey | None,
        *,
        score: int | None,
        text: str | None,
        negative: bool,
        topics: tuple[Topic, ...],
        now: datetime,
        human: bool = False,
    ) -> list[Action]:
        metric = active.metric if active is not None else None
        priority = escalation_priority(metric, score, negative, topics, self.journey.escalation)
        if priority is None:
            return []
        return [
            OpenEscalation(
                survey_id=active.survey_id if active else None,
                stage=active.stage if active else None,
                priority=priority,
                metric=metric,
                score=score,
                text=text,
                topics=topics,
                human=human,
                at=now,
            )
        ]

    def _accept_score(
        self,
        state: ConversationState,
        active: ActiveSurvey,
        score: int,
        u: Understanding | None,
        now: datetime,
    ) -> Result:
        comment = u.comment if u is not None else None
        negative = u.negative if u is not None else False
        topics = u.topics if u is not None else ()
        store = StoreResponse(
            survey_id=active.survey_id,
            stage=active.stage,
            metric=active.metric,
            score=score,
            language=state.language,
            comment=comment,
            negative=negative,
            topics=topics,
            answered_at=now,
        )
        mark = MarkSurvey(survey_id=active.survey_id, status=SurveyStatus.ANSWERED, at=now)
        escalation = self._escalate(
            active, score=score, text=comment, negative=negative, topics=topics, now=now
        )
        active = active.model_copy(update={"score": score, "phase": Phase.REASON})
        state = state.model_copy(update={"active": active})
        if comment:
            # The reason came with the score: no follow-up question needed.
            state, more = self._finish(state, active, now, escalated=bool(escalation))
            return state, [store, mark, *escalation, *more]
        actions: list[Action] = [store, mark, *escalation, self._question(state, active)]
        stage = self.journey.stage(active.stage)
        if stage.review_invitation:
            # A customer who never answers the reason question is still invited to review.
            at = min(now + stage.reason_timeout, active.expires_at)
            actions.append(ScheduleTimer(timer=TimerKind.REASON_TIMEOUT, survey_id=active.survey_id, at=at))
        return state, actions

    def _opt_out(self, state: ConversationState, now: datetime) -> Result:
        actions: list[Action] = [MarkOptOut(at=now), *_skip_open_surveys(state, now)]
        state = state.model_copy(update={"opted_out": True, "active": None, "queue": ()})
        actions.append(self._say(self.journey.messages.opted_out, state.language))
        return state, actions

    def _set_language(self, state: ConversationState, lang: Lang) -> Result:
        state = state.model_copy(update={"language": lang})
        actions: list[Action] = [
            SetLanguage(language=lang),
            self._say(self.journey.messages.language_set, lang),
        ]
        if state.active is not None:
            actions.append(self._question(state, state.active))
        return state, actions

    def _expire_active(self, state: ConversationState, now: datetime) -> Result:
        """Close an open survey whose answer window has passed; replies within the stage's late
        window are still kept, as late comments on it (CX_METHOD §5)."""
        active = state.active
        assert active is not None
        actions: list[Action] = []
        if active.phase is Phase.SCORE:
            actions.append(MarkSurvey(survey_id=active.survey_id, status=SurveyStatus.EXPIRED, at=now))
        try:
            window = self.journey.stage(active.stage).late_window
        except KeyError:
            window = timedelta(0)
        late = [entry for entry in state.late if entry.until > now and entry.survey_id != active.survey_id]
        if window > timedelta(0):
            late.append(LateSurvey(survey_id=active.survey_id, stage=active.stage, until=now + window))
        state = state.model_copy(update={"late": tuple(late[-MAX_LATE:])})
        state, more = self._next(state, now)
        return state, actions + more

    # -- handlers ----------------------------------------------------------------------------

    def _on_survey_due(self, state: ConversationState, event: SurveyDue, now: datetime) -> Result:
        try:
            stage = self.journey.stage(event.stage)
        except KeyError:
            return state, [MarkSurvey(survey_id=event.survey_id, status=SurveyStatus.SKIPPED, at=now)]
        if state.opted_out:
            return state, [MarkSurvey(survey_id=event.survey_id, status=SurveyStatus.SKIPPED, at=now)]
        known = {p.survey_id for p in state.queue}
        if state.active is not None:
            known.add(state.active.survey_id)
        if event.survey_id in known:
            return state, []  # a repeated timer: already asked or queued
        if event.deadline is not None and now >= event.deadline:
            # The deadline is hard, whatever delayed the timer.
            return state, [
                MarkSurvey(survey_id=event.survey_id, status=SurveyStatus.EXPIRED, at=now, reason="expired")
            ]
        pending = PendingSurvey(
            survey_id=event.survey_id,
            stage=stage.id,
            priority=stage.priority,
            placeholders=event.placeholders,
            deadline=event.deadline,
        )
        if state.active is not None and now >= state.active.expires_at:
            state, expired = self._expire_active(state, now)
        else:
            expired = []
        if state.active is None and state.handoff is None and state.closing is None:
            state, actions = self._ask(state, pending, now)
            return state, expired + actions
        # Higher priority first; equal priorities keep arrival order.
        queue = sorted((*state.queue, pending), key=lambda p: -p.priority)
        state = state.model_copy(update={"queue": tuple(queue)})
        actions = [*expired, MarkSurvey(survey_id=event.survey_id, status=SurveyStatus.QUEUED, at=now)]
        if pending.deadline is not None:
            # A queued survey expires at its deadline even if nothing else happens meanwhile.
            actions.append(
                ScheduleTimer(timer=TimerKind.EXPIRY, survey_id=pending.survey_id, at=pending.deadline)
            )
        return state, actions

    def _on_reminder(self, state: ConversationState, event: ReminderDue, now: datetime) -> Result:
        active = state.active
        if (
            active is None
            or active.survey_id != event.survey_id
            or active.phase is not Phase.SCORE
            or active.reminded
            or now >= active.expires_at
            or state.opted_out
        ):
            return state, []
        active = active.model_copy(update={"reminded": True})
        state = state.model_copy(update={"active": active})
        prefix = self.journey.messages.reminder_prefix(state.language)
        return state, [
            self._question(state, active, prefix=prefix),
            MarkSurvey(survey_id=active.survey_id, status=SurveyStatus.SENT, at=now, reminded=True),
        ]

    def _on_reason_timeout(self, state: ConversationState, event: ReasonTimeout, now: datetime) -> Result:
        """The reason question was left alone: the review invitation follows the score anyway
        (the question stays open until the survey expires)."""
        active = state.active
        if active is None or active.survey_id != event.survey_id or active.phase is not Phase.REASON:
            return state, []
        return self._invite(state, active, now)

    def _invite(self, state: ConversationState, active: ActiveSurvey, now: datetime) -> Result:
        """Invite to a public review after any score (not only promoters), once per period."""
        stage = self.journey.stage(active.stage)
        if not stage.review_invitation or active.score is None or not self._may_invite(state, now):
            return state, []
        messages = self.journey.messages
        lang = state.language
        actions: list[Action] = [self._say(messages.review_invitation, lang), MarkReviewInvited(at=now)]
        if active.score >= 9 and self.journey.referral_link:
            actions.append(self._say(messages.referral_invitation, lang))
        return state.model_copy(update={"review_invited_at": now}), actions

    def _on_expired(self, state: ConversationState, event: SurveyExpired, now: datetime) -> Result:
        if state.active is not None and state.active.survey_id == event.survey_id:
            return self._expire_active(state, now)
        if any(p.survey_id == event.survey_id for p in state.queue):
            queue = tuple(p for p in state.queue if p.survey_id != event.survey_id)
            mark = MarkSurvey(
                survey_id=event.survey_id, status=SurveyStatus.EXPIRED, at=now, reason=EXPIRED_IN_QUEUE
            )
            return state.model_copy(update={"queue": queue}), [mark]
        return state, []

    def _on_started(self, state: ConversationState, event: Started, now: datetime) -> Result:
        actions: list[Action] = []
        if event.language is not None and event.language is not state.language:
            state = state.model_copy(update={"language": event.language})
            actions.append(SetLanguage(language=event.language))
        if state.opted_out:
            state = state.model_copy(update={"opted_out": False})
            actions += [MarkOptIn(at=now), self._say(self.journey.messages.opted_in, state.language)]
        else:
            actions.append(self._say(self.journey.messages.welcome, state.language))
        if state.active is not None:
            actions.append(self._question(state, state.active))
        if event.due is None:
            return state, actions
        state, due = self._on_survey_due(state, event.due, now)
        asked = next((a for a in due if isinstance(a, Send) and a.survey_id == event.due.survey_id), None)
        greeting = actions[-1] if actions and isinstance(actions[-1], Send) else None
        if asked is None or greeting is None or greeting.survey_id is not None:
            return state, [*actions, *due]
        # One message, welcome then question: a second one would wait for the chat's send spacing.
        merged = asked.model_copy(update={"text": f"{greeting.text}\n\n{asked.text}"})
        return state, [*actions[:-1], *(merged if a is asked else a for a in due)]

    def _privacy(self, state: ConversationState) -> Result:
        """Say what is kept and offer the one-tap erasure."""
        messages = self.journey.messages
        info = self._say(messages.privacy_info, state.language)
        erase = Choice(label=messages.privacy_erase_label(state.language), value=PRIVACY_ERASE)
        return state, [info.model_copy(update={"rows": ((erase,),)})]

    def _erase(self, state: ConversationState, now: datetime) -> Result:
        """Erase the customer's personal data; the conversation starts over, opted out."""
        actions: list[Action] = [
            *_skip_open_surveys(state, now),
            EraseCustomer(at=now),
            self._say(self.journey.messages.privacy_erased, state.language),
        ]
        return ConversationState(language=state.language, opted_out=True), actions

    def _on_command(self, state: ConversationState, event: Command, now: datetime) -> Result:
        if event.name is CommandName.STOP:
            return self._opt_out(state, now)
        if event.name is CommandName.PRIVACY:
            return self._privacy(state)
        if event.name is CommandName.LANGUAGE:
            choice = event.argument.strip().lower()[:2]
            if choice in {"it", "en"}:
                return self._set_language(state, Lang(choice))
            prompt = self._say(self.journey.messages.language_prompt, state.language)
            return state, [prompt.model_copy(update={"rows": language_rows()})]
        return state, [self._help(state)]

    def _on_button(self, state: ConversationState, event: ButtonPress, now: datetime) -> Result:
        kind, _, arg = event.value.partition(":")
        if kind == "lang" and arg in {"it", "en"}:
            return self._set_language(state, Lang(arg))
        if event.value == PRIVACY_ERASE:
            return self._erase(state, now)
        if event.value == desk.HUMAN:
            return self._human(state, event.survey_id, now)
        if kind == "solved" and arg in {"yes", "no"}:
            return self._closing_answer(state, arg == "yes", now)
        active = state.active
        stale = self._say(self.journey.messages.stale_button, state.language)
        if active is None or event.survey_id != active.survey_id:
            return state, [stale]
        if now >= active.expires_at:
            state, actions = self._expire_active(state, now)
            return state, [*actions, stale]
        stage = self.journey.stage(active.stage)
        if (
            kind == "score"
            and active.phase is Phase.SCORE
            and arg.isdigit()
            and active.metric.in_range(int(arg))
        ):
            return self._accept_score(state, active, int(arg), None, now)
        if kind == "reason" and active.phase is Phase.REASON:
            reason = next((r for r in stage.reasons.for_sentiment(_band(active)) if r.id == arg), None)
            if reason is None:
                return state, [stale]
            store = StoreComment(
                survey_id=active.survey_id,
                stage=active.stage,
                comment=reason.label(state.language),
                reason=reason.id,
                negative=False,
                topics=(reason.topic,) if reason.topic else (),
                language=state.language,
                at=now,
            )
            topics = (reason.topic,) if reason.topic else ()
            escalation: list[Action] = []
            if self._was_negative(active):
                # The chip says what went wrong: it joins the case the low score opened.
                escalation = self._escalate(
                    active, score=active.score, text=None, negative=True, topics=topics, now=now
                )
            state, more = self._finish(state, active, now, escalated=self._was_negative(active))
            return state, [store, *escalation, *more]
        if kind == "skip" and active.phase is Phase.REASON:
            skipped = ReasonSkipped(survey_id=active.survey_id, at=now)
            state, more = self._finish(state, active, now, escalated=self._was_negative(active))
            return state, [skipped, *more]
        return state, [stale]

    def _on_text(self, state: ConversationState, event: CustomerText, now: datetime) -> Result:
        text = event.text.strip()
        if state.handoff is not None and text:
            # A person is handling it: their words go to the agent, not to the survey.
            return state, [RelayToAgent(escalation_id=state.handoff, text=text, at=now)]
        active = state.active
        lang = state.language
        if active is not None and now >= active.expires_at:
            return self._late_text(state, text, now)
        metric: Metric | None = active.metric if active is not None and active.phase is Phase.SCORE else None
        u = understand(text, metric, lang, active.stage if active is not None else None)
        if u.intent is Intent.PRIVACY:
            return self._privacy(state)
        if u.intent is Intent.OPT_OUT:
            return self._opt_out(state, now)
        if u.intent is Intent.HELP:
            return state, [self._help(state)]
        if u.intent is Intent.LANGUAGE and u.language is not None:
            return self._set_language(state, u.language)
        if active is None:
            late = next((e for e in reversed(state.late) if now < e.until), None)
            if late is not None and text and u.intent is not Intent.GREETING:
                return self._late_reply(state, late, text, now)
            return self._idle_text(state, text, u, now)
        if active.phase is Phase.REASON:
            return self._reason_text(state, active, text, u, now)
        return self._score_text(state, active, text, u, now)

    def _on_agent(self, state: ConversationState, event: AgentAction, now: datetime) -> Result:
        handler = _AGENT_HANDLERS[event.action]
        return handler(self, state, event, now)

    # -- hand-off to a person ----------------------------------------------------------------

    def _help(self, state: ConversationState) -> Send:
        """Return the help text with a "talk to a person" button."""
        help_text = self._say(self.journey.messages.help, state.language)
        return help_text.model_copy(update={"rows": desk.human_rows(state.language)})

    def _human(self, state: ConversationState, survey_id: int | None, now: datetime) -> Result:
        """Open (or join) an escalation because the customer asked for a person."""
        lang = state.language
        priority = escalation_priority(None, None, True, (), self.journey.escalation)
        assert priority is not None  # a negative flag always escalates
        escalation = OpenEscalation(survey_id=survey_id, stage=None, priority=priority, human=True, at=now)
        if state.handoff is not None:
            # Someone already has it: the card still shows the request and the agent is pinged.
            return state, [escalation, self._say(desk.ALREADY_WITH_AGENT, lang)]
        reply = desk.HUMAN_ADDED if state.case_open else desk.HUMAN_REQUESTED
        return state, [escalation, self._say(reply, lang)]

    def _closing_answer(self, state: ConversationState, solved: bool, now: datetime) -> Result:
        if state.closing is None:
            return state, [self._say(self.journey.messages.stale_button, state.language)]
        store = StoreClosingAnswer(escalation_id=state.closing, solved=solved, at=now)
        reply = self._say(desk.SOLVED_THANKS if solved else desk.NOT_SOLVED, state.language)
        state = state.model_copy(update={"closing": None, "case_open": state.case_open or not solved})
        state, more = self._resume(state, now)
        return state, [store, reply, *more]

    def _resume(self, state: ConversationState, now: datetime) -> Result:
        """Ask a survey that waited during the hand-off, when nothing else is open."""
        if state.active is not None:
            return state, []
        return self._next(state, now)

    def _agent_taken(self, state: ConversationState, event: AgentAction, now: datetime) -> Result:
        if state.handoff == event.escalation_id:
            return state, []
        state = state.model_copy(update={"handoff": event.escalation_id, "closing": None, "case_open": True})
        return state, [self._say(desk.TAKEN, state.language)]

    def _agent_replied(self, state: ConversationState, event: AgentAction, now: datetime) -> Result:
        # Replying implies handling it: the customer's answer goes back to the agent.
        state = state.model_copy(update={"handoff": event.escalation_id, "closing": None})
        text = event.text.strip()
        # No words: the agent replied with media, which the channel passes on itself.
        return state, [Send(text=text)] if text else []

    def _agent_handed_back(self, state: ConversationState, event: AgentAction, now: datetime) -> Result:
        if state.handoff != event.escalation_id:
            return state, []
        state = state.model_copy(update={"handoff": None})
        state, more = self._resume(state, now)
        return state, [self._say(desk.HANDED_BACK, state.language), *more]

    def _agent_resolved(self, state: ConversationState, event: AgentAction, now: datetime) -> Result:
        handoff = None if state.handoff == event.escalation_id else state.handoff
        state = state.model_copy(
            update={"handoff": handoff, "closing": event.escalation_id, "case_open": handoff is not None}
        )
        question = self._say(desk.RESOLVED, state.language)
        return state, [question.model_copy(update={"rows": desk.solved_rows(state.language)})]

    def _on_media(self, state: ConversationState, event: CustomerMedia, now: datetime) -> Result:
        """A photo (video, document…) while a case is open and no agent holds it yet: attached to
        that case like a captioned one would be, and acknowledged. Elsewhere: nothing here (the
        channel answers media it cannot read, or copies it to the agent holding the case)."""
        if not state.case_open or state.handoff is not None:
            return state, []
        # The lowest priority: an attachment joins the case and never raises it.
        attach = OpenEscalation(survey_id=None, stage=None, priority=Priority.P2, media=event.media, at=now)
        return state, [attach, self._say(desk.MEDIA_ADDED, state.language)]

    # -- text in each situation --------------------------------------------------------------

    def _idle_text(self, state: ConversationState, text: str, u: Understanding, now: datetime) -> Result:
        lang = state.language
        joins_case = state.case_open and u.intent not in (Intent.GREETING, Intent.REFUSE)
        if u.intent is Intent.HUMAN or u.negative or joins_case:
            # Words that need a person, or anything said while a case is open (a photo's
            # caption, a detail): they go to that case, never to a second one.
            negative, topics = u.negative or u.intent is Intent.HUMAN, u.topics
            store = StoreComment(
                survey_id=None,
                stage=None,
                comment=text,
                negative=negative,
                topics=topics,
                language=lang,
                at=now,
            )
            escalation = self._escalate(
                None,
                score=None,
                text=text,
                negative=True,
                topics=topics,
                now=now,
                human=u.intent is Intent.HUMAN,
            )
            reply = desk.CASE_UPDATED if state.case_open else self.journey.messages.complaint_noted
            return state, [store, *escalation, self._say(reply, lang)]
        if state.opted_out:  # "no questions for now, I'll write" would contradict their /stop
            return state, [self._say(self.journey.messages.opted_out_idle, lang)]
        if u.intent is Intent.GREETING:
            return state, [self._say(self.journey.messages.welcome, lang)]
        return state, [self._say(self.journey.messages.nothing_pending, lang)]

    def _reason_text(
        self, state: ConversationState, active: ActiveSurvey, text: str, u: Understanding, now: datetime
    ) -> Result:
        if u.intent is Intent.REFUSE:
            return self._finish(state, active, now, escalated=self._was_negative(active))
        negative, topics = analyse_comment(text, state.language, active.stage)
        store = StoreComment(
            survey_id=active.survey_id,
            stage=active.stage,
            comment=text,
            negative=negative,
            topics=topics,
            language=state.language,
            at=now,
        )
        escalation = self._escalate(
            active, score=active.score, text=text, negative=negative, topics=topics, now=now
        )
        state, more = self._finish(state, active, now, escalated=bool(escalation))
        return state, [store, *escalation, *more]

    def _score_text(
        self, state: ConversationState, active: ActiveSurvey, text: str, u: Understanding, now: datetime
    ) -> Result:
        lang = state.language
        messages = self.journey.messages
        if u.intent is Intent.SCORE and u.score is not None and active.metric.in_range(u.score):
            return self._accept_score(state, active, u.score, u, now)
        if u.intent is Intent.REFUSE:
            mark = MarkSurvey(survey_id=active.survey_id, status=SurveyStatus.REFUSED, at=now)
            state, more = self._next(state, now)
            return state, [mark, self._say(messages.refused, lang), *more]
        if u.intent is Intent.HUMAN or (u.intent is Intent.COMMENT and u.negative):
            # No score, but words that need a human: keep them, escalate, do not insist.
            return self._keep_as_comment(state, active, text, u, now)
        if active.reasks >= 1:
            # Re-ask once only; the second unclear reply is kept as a comment.
            return self._keep_as_comment(state, active, text, u, now)
        reask_text = messages.reask_contradiction if u.reason is ReaskReason.CONTRADICTION else messages.reask
        active = active.model_copy(update={"reasks": active.reasks + 1})
        state = state.model_copy(update={"active": active})
        scale = {"low": str(active.metric.low), "high": str(active.metric.high)}
        return state, [self._question(state, active, prefix=fill(self.journey, reask_text, lang, scale))]

    def _keep_as_comment(
        self, state: ConversationState, active: ActiveSurvey, text: str, u: Understanding, now: datetime
    ) -> Result:
        negative = u.negative or u.intent is Intent.HUMAN
        store = StoreComment(
            survey_id=active.survey_id,
            stage=active.stage,
            comment=text,
            negative=negative,
            topics=u.topics,
            language=state.language,
            at=now,
        )
        mark = MarkSurvey(survey_id=active.survey_id, status=SurveyStatus.COMMENTED, at=now)
        escalation = self._escalate(
            active,
            score=None,
            text=text,
            negative=negative,
            topics=u.topics,
            now=now,
            human=u.intent is Intent.HUMAN,
        )
        messages = self.journey.messages
        reply = self._say(messages.complaint_noted if escalation else messages.thanks, state.language)
        state, more = self._next(state, now)
        return state, [store, mark, *escalation, reply, *more]

    def _late_text(self, state: ConversationState, text: str, now: datetime) -> Result:
        """An answer after expiry (its timer not run yet) is kept as a late comment, never re-asked."""
        active = state.active
        assert active is not None
        state, expired = self._expire_active(state, now)
        late = LateSurvey(survey_id=active.survey_id, stage=active.stage, until=now)
        state, more = self._late_reply(state, late, text, now)
        return state, [*expired, *more]

    def _late_reply(self, state: ConversationState, late: LateSurvey, text: str, now: datetime) -> Result:
        """Keep a reply to an expired question as a late comment on its survey and stage (never a
        score, CX_METHOD §5), thank the customer, and hand it to a person when it is negative."""
        try:
            metric: Metric | None = self.journey.stage(late.stage).metric
        except KeyError:
            metric = None
        read = understand(text, metric, state.language, late.stage) if metric is not None else None
        if read is not None and read.intent is Intent.SCORE:
            # "4, corriere gentile": the number is the late score (not stored); the words are judged.
            negative, topics = read.negative, tuple(read.topics)
        else:
            negative, topics = analyse_comment(text, state.language, late.stage)
        store = StoreComment(
            survey_id=late.survey_id,
            stage=late.stage,
            comment=text,
            negative=negative,
            topics=topics,
            language=state.language,
            late=True,
            at=now,
        )
        escalation: list[Action] = []
        priority = escalation_priority(None, None, negative, topics, self.journey.escalation)
        if priority is not None:
            escalation.append(
                OpenEscalation(
                    survey_id=late.survey_id,
                    stage=late.stage,
                    priority=priority,
                    text=text,
                    topics=topics,
                    at=now,
                )
            )
        # One late reply per expired question; later words are ordinary messages.
        state = state.model_copy(
            update={"late": tuple(e for e in state.late if e.survey_id != late.survey_id)}
        )
        messages = self.journey.messages
        reply = self._say(messages.complaint_noted if escalation else messages.expired_kept, state.language)
        return state, [store, *escalation, reply]


def _band(active: ActiveSurvey) -> Sentiment:
    """Return the band of the open survey's score (negative when there is none yet)."""
    if active.score is None or not active.metric.in_range(active.score):
        return Sentiment.NEGATIVE
    return sentiment(active.metric, active.score)


def _skip_open_surveys(state: ConversationState, now: datetime) -> list[Action]:
    """Return the marks that skip the unanswered open question and every queued survey."""
    open_ids = [p.survey_id for p in state.queue]
    if state.active is not None and state.active.phase is Phase.SCORE:
        open_ids.insert(0, state.active.survey_id)
    return [MarkSurvey(survey_id=i, status=SurveyStatus.SKIPPED, at=now) for i in open_ids]


_HANDLERS: dict[type, Callable[[Engine, ConversationState, object, datetime], Result]] = {
    SurveyDue: Engine._on_survey_due,  # type: ignore[dict-item]
    ReminderDue: Engine._on_reminder,  # type: ignore[dict-item]
    ReasonTimeout: Engine._on_reason_timeout,  # type: ignore[dict-item]
    SurveyExpired: Engine._on_expired,  # type: ignore[dict-item]
    Started: Engine._on_started,  # type: ignore[dict-item]
    Command: Engine._on_command,  # type: ignore[dict-item]
    ButtonPress: Engine._on_button,  # type: ignore[dict-item]
    CustomerText: Engine._on_text,  # type: ignore[dict-item]
    CustomerMedia: Engine._on_media,  # type: ignore[dict-item]
    AgentAction: Engine._on_agent,  # type: ignore[dict-item]
}

_AGENT_HANDLERS: dict[
    AgentActionKind, Callable[[Engine, ConversationState, AgentAction, datetime], Result]
] = {
    AgentActionKind.TAKEN: Engine._agent_taken,
    AgentActionKind.REPLIED: Engine._agent_replied,
    AgentActionKind.HANDED_BACK: Engine._agent_handed_back,
    AgentActionKind.RESOLVED: Engine._agent_resolved,
}
