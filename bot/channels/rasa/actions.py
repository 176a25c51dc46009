"""The cxbot actions a Rasa assistant calls: ask, validate the survey form, submit, opt out, answer.

Every change of a conversation goes through ``Service.feed`` (via ``bridge``); the form's
validation only reads the reply with cxbot's understanding, so Rasa and Telegram customers get
the same journey, storage and escalations.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.channels.rasa import bridge
from bot.channels.rasa.messages import (
    MESSAGE_ENTITY,
    parse_survey_id,
    parse_value,
    pressed_from,
    to_rasa_response,
)
from bot.engine.wiring import App
from bot.security.hygiene import strip_control
from flows.conversation import ButtonPress, Command, CommandName, ConversationState, CustomerText
from flows.conversation.state import Phase
from flows.understanding import Intent, understand

FORM = "cxbot_survey_form"
SCORE_SLOT = "cxbot_score"
COMMENT_SLOT = "cxbot_comment"
CUSTOMER_SLOT = "cxbot_customer_id"
TEXT_LIMIT = 4096


def utter(dispatcher: CollectingDispatcher, payloads: list[dict[str, Any]]) -> None:
    """Send outbox-shaped payloads as Rasa responses."""
    for payload in payloads:
        dispatcher.utter_message(**to_rasa_response(payload))


def asked_this_turn(tracker: Tracker) -> bool:
    """Return True when a question with buttons was already sent since the customer's last message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot" and (event.get("data") or {}).get("buttons"):
            return True
    return False


def latest_text(tracker: Tracker) -> str:
    """Return the customer's latest message text, bounded."""
    return strip_control(str(tracker.latest_message.get("text") or "")[:TEXT_LIMIT])


class _CxbotAction(Action):  # type: ignore[misc]
    """Base: knows the app and finds the customer of a Rasa conversation."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def customer(self, tracker: Tracker) -> str | None:
        return await asyncio.to_thread(
            bridge.resolve_customer, self.app, tracker.sender_id, tracker.get_slot(CUSTOMER_SLOT)
        )


class AskQuestion(_CxbotAction):
    """Ask the customer's pending question: the message cxbot triggered, or the open survey question.

    Registered as ``action_cxbot_ask`` (rules) and ``action_ask_cxbot_score`` (the form's ask).
    """

    def __init__(self, app: App, action_name: str = "action_cxbot_ask") -> None:
        super().__init__(app)
        self.action_name = action_name

    def name(self) -> str:
        return self.action_name

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        customer_id = await self.customer(tracker)
        if customer_id is None or asked_this_turn(tracker):
            return []
        entities = tracker.latest_message.get("entities") or []
        message_id = next(
            (parse_survey_id(e.get("value")) for e in entities if e.get("entity") == MESSAGE_ENTITY), None
        )
        pending = await asyncio.to_thread(bridge.take_pending, self.app, tracker.sender_id, message_id)
        utter(dispatcher, pending)
        state = await asyncio.to_thread(bridge.state_of, self.app, customer_id)
        active = bridge.open_survey(state, self.app.service.clock())
        if active is not None and not any(
            p.get("survey_id") == active.survey_id and p.get("rows") for p in pending
        ):
            utter(dispatcher, [bridge.question(self.app, state, active, Phase.SCORE)])
        return [SlotSet(CUSTOMER_SLOT, customer_id)]


class AskFollowUp(_CxbotAction):
    """The form's ``action_ask_cxbot_comment``: the stage's follow-up question with reason buttons."""

    def name(self) -> str:
        return "action_ask_cxbot_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        customer_id = await self.customer(tracker)
        if customer_id is None:
            return []
        state = await asyncio.to_thread(bridge.state_of, self.app, customer_id)
        active = bridge.open_survey(state, self.app.service.clock())
        if active is not None:
            utter(dispatcher, [bridge.question(self.app, state, active, Phase.REASON)])
        return []


class ValidateSurveyForm(FormValidationAction):  # type: ignore[misc]
    """``validate_cxbot_survey_form``: reads score and comment replies with cxbot's understanding.

    A clean score fills ``cxbot_score``; anything else (unclear, refusal, opt-out, help, a
    complaint) is fed to the engine at once, which re-asks in the customer's language, keeps
    words as a comment, escalates or closes the survey, exactly as on Telegram.
    """

    def __init__(self, app: App) -> None:
        self.app = app

    def name(self) -> str:
        return f"validate_{FORM}"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        # Nothing to ask (no customer or no open survey): the form completes at once.
        customer_id = await asyncio.to_thread(
            bridge.resolve_customer, self.app, tracker.sender_id, tracker.get_slot(CUSTOMER_SLOT)
        )
        if customer_id is None:
            return []
        state = await asyncio.to_thread(bridge.state_of, self.app, customer_id)
        if bridge.open_survey(state, self.app.service.clock()) is None:
            return []
        return [SCORE_SLOT, COMMENT_SLOT]

    async def validate_cxbot_score(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        customer_id = await asyncio.to_thread(
            bridge.resolve_customer, self.app, tracker.sender_id, tracker.get_slot(CUSTOMER_SLOT)
        )
        if customer_id is None:
            return {SCORE_SLOT: None}
        state = await asyncio.to_thread(bridge.state_of, self.app, customer_id)
        active = bridge.open_survey(state, self.app.service.clock())
        if active is None:
            return {SCORE_SLOT: None}
        pressed = pressed_from(tracker.latest_message.get("entities") or [])
        if pressed is not None:
            kind, _, arg = pressed.value.partition(":")
            if (
                kind == "score"
                and pressed.survey_id in (None, active.survey_id)
                and active.metric.in_range(int(arg))
            ):
                return {SCORE_SLOT: int(arg)}
            inbound: ButtonPress | CustomerText = ButtonPress(
                survey_id=pressed.survey_id, value=pressed.value
            )
        else:
            text = latest_text(tracker) or str(value or "")[:TEXT_LIMIT]
            u = understand(text, active.metric, state.language)
            if u.intent is Intent.SCORE and u.score is not None and active.metric.in_range(u.score):
                return {SCORE_SLOT: u.score, COMMENT_SLOT: u.comment or None}
            inbound = CustomerText(text=text)
        replies, _ = await asyncio.to_thread(bridge.feed, self.app, customer_id, tracker.sender_id, inbound)
        utter(dispatcher, replies)
        return {SCORE_SLOT: None}

    async def validate_cxbot_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        pressed = pressed_from(tracker.latest_message.get("entities") or [])
        if pressed is not None and (pressed.value == "skip" or pressed.value.startswith("reason:")):
            return {COMMENT_SLOT: pressed.value}
        if isinstance(value, str) and value.strip():
            return {COMMENT_SLOT: value.strip()[:TEXT_LIMIT]}
        return {COMMENT_SLOT: None}


class SubmitAnswer(_CxbotAction):
    """``action_cxbot_submit``: stores the form's answer by feeding the engine (escalates when negative)."""

    def name(self) -> str:
        return "action_cxbot_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset: list[EventType] = [SlotSet(SCORE_SLOT, None), SlotSet(COMMENT_SLOT, None)]
        customer_id = await self.customer(tracker)
        score = tracker.get_slot(SCORE_SLOT)
        state = None
        replies: list[dict[str, Any]] = []
        if customer_id is not None:
            state = await asyncio.to_thread(bridge.state_of, self.app, customer_id)
            active = bridge.open_survey(state, self.app.service.clock())
            if active is not None and isinstance(score, int | float) and active.metric.in_range(int(score)):
                press = ButtonPress(survey_id=active.survey_id, value=f"score:{int(score)}")
                await asyncio.to_thread(bridge.feed, self.app, customer_id, tracker.sender_id, press)
                comment = tracker.get_slot(COMMENT_SLOT)
                value = parse_value(comment)
                inbound: ButtonPress | CustomerText | None = None
                if value is not None and (value == "skip" or value.startswith("reason:")):
                    inbound = ButtonPress(survey_id=active.survey_id, value=value)
                elif isinstance(comment, str) and comment.strip():
                    inbound = CustomerText(text=comment.strip()[:TEXT_LIMIT])
                if inbound is not None:
                    replies, state = await asyncio.to_thread(
                        bridge.feed, self.app, customer_id, tracker.sender_id, inbound
                    )
            else:
                replies = await asyncio.to_thread(bridge.take_pending, self.app, tracker.sender_id, None)
        if state is not None:
            reopened = bridge.open_survey(state, self.app.service.clock())
            if reopened is not None:
                # The next queued survey: the form asks it, so its question is not sent twice.
                replies = [p for p in replies if p.get("survey_id") != reopened.survey_id]
                utter(dispatcher, replies)
                return [*reset, FollowupAction(FORM)]
        utter(dispatcher, replies)
        if not replies and score is None and not any(e.get("event") == "bot" for e in _this_turn(tracker)):
            # Nothing was pending and nothing was said this turn (e.g. "I want to leave feedback").
            fallback = state or ConversationState(language=self.app.journey.default_language)
            utter(dispatcher, [bridge.say(self.app, fallback, "nothing_pending")])
        return reset


def _this_turn(tracker: Tracker) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            break
        events.append(event)
    return events


class OptOut(_CxbotAction):
    """``action_cxbot_opt_out``: the customer asks for no more surveys (``/stop``)."""

    def name(self) -> str:
        return "action_cxbot_opt_out"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        customer_id = await self.customer(tracker)
        if customer_id is not None:
            replies, _ = await asyncio.to_thread(
                bridge.feed, self.app, customer_id, tracker.sender_id, Command(name=CommandName.STOP)
            )
            utter(dispatcher, replies)
        return [
            ActiveLoop(None),
            SlotSet("requested_slot", None),
            SlotSet(SCORE_SLOT, None),
            SlotSet(COMMENT_SLOT, None),
        ]


class Answer(_CxbotAction):
    """``action_cxbot_answer``: a button press (or text) outside the form, handled by the engine."""

    def name(self) -> str:
        return "action_cxbot_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        customer_id = await self.customer(tracker)
        if customer_id is None:
            return []
        pressed = pressed_from(tracker.latest_message.get("entities") or [])
        if pressed is not None:
            inbound: ButtonPress | CustomerText = ButtonPress(
                survey_id=pressed.survey_id, value=pressed.value
            )
        else:
            text = latest_text(tracker).strip()
            if not text:
                return []
            inbound = CustomerText(text=text)
        replies, _ = await asyncio.to_thread(bridge.feed, self.app, customer_id, tracker.sender_id, inbound)
        utter(dispatcher, replies)
        return []


def cxbot_actions(app: App) -> list[Action]:
    """Return every cxbot action bound to ``app``, ready to register with an ActionExecutor."""
    return [
        AskQuestion(app),
        AskQuestion(app, "action_ask_cxbot_score"),
        AskFollowUp(app),
        ValidateSurveyForm(app),
        SubmitAnswer(app),
        OptOut(app),
        Answer(app),
    ]
