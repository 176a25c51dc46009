"""What the engine asks the adapters to do. Pure data; adapters persist and deliver them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from flows.conversation.state import SurveyStatus
from flows.escalation import Priority
from flows.scales import Lang, Metric
from flows.topics import Topic


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True)


class Choice(BaseModel):
    """An answer choice, shown as a button where the channel has buttons."""

    model_config = ConfigDict(frozen=True)

    label: str
    value: str  # e.g. "score:7", "reason:late", "skip", "lang:en"


class Send(_Action):
    """Send ``text`` to the customer, with choices laid out in ``rows``."""

    kind: Literal["send"] = "send"
    text: str
    rows: tuple[tuple[Choice, ...], ...] = ()
    survey_id: int | None = None  # the survey the choices answer


class StoreResponse(_Action):
    """Store a score for a survey."""

    kind: Literal["store_response"] = "store_response"
    survey_id: int
    stage: str
    metric: Metric
    score: int
    language: Lang
    comment: str | None = None
    negative: bool = False
    topics: tuple[Topic, ...] = ()
    answered_at: datetime


class StoreComment(_Action):
    """Attach words to a survey's response (a reason, or a reply without a score)."""

    kind: Literal["store_comment"] = "store_comment"
    survey_id: int | None
    stage: str | None
    comment: str
    negative: bool
    topics: tuple[Topic, ...] = ()
    language: Lang
    reason: str | None = None  # id of a tapped reason choice
    late: bool = False  # arrived after the survey expired
    at: datetime


class MarkSurvey(_Action):
    """Move a survey to a new status."""

    kind: Literal["mark_survey"] = "mark_survey"
    survey_id: int
    status: SurveyStatus
    at: datetime
    reminded: bool = False
    reason: str | None = None  # why (e.g. an expiry: "expired_in_queue")


class OpenEscalation(_Action):
    """Hand this to a human: joins the customer's open case for the order (without a survey: the
    most recent open case, else a new one naming the latest order and stage), or opens one."""

    kind: Literal["open_escalation"] = "open_escalation"
    survey_id: int | None
    stage: str | None
    priority: Priority
    metric: Metric | None = None
    score: int | None = None
    text: str | None = None
    topics: tuple[Topic, ...] = ()
    human: bool = False  # the customer asked to talk to a person
    media: str | None = None  # what the customer attached (photo, video…): noted on the case
    at: datetime


class MarkOptOut(_Action):
    """The customer asked not to receive surveys any more."""

    kind: Literal["opt_out"] = "opt_out"
    at: datetime


class MarkOptIn(_Action):
    """The customer asked to receive surveys again."""

    kind: Literal["opt_in"] = "opt_in"
    at: datetime


class TimerKind(StrEnum):
    """Timers the engine asks for; they come back as ReminderDue / SurveyExpired / ReasonTimeout."""

    REMINDER = "reminder"
    EXPIRY = "expiry"
    REASON_TIMEOUT = "reason_timeout"


class ScheduleTimer(_Action):
    """Feed a timer event for ``survey_id`` back at ``at``."""

    kind: Literal["schedule_timer"] = "schedule_timer"
    timer: TimerKind
    survey_id: int
    at: datetime


class EraseCustomer(_Action):
    """The customer asked, in the chat, to erase their personal data (anonymous scores stay)."""

    kind: Literal["erase_customer"] = "erase_customer"
    at: datetime


class SetLanguage(_Action):
    """Remember the customer's language."""

    kind: Literal["set_language"] = "set_language"
    language: Lang


class RelayToAgent(_Action):
    """Pass the customer's words to the agent handling escalation ``escalation_id``."""

    kind: Literal["relay_to_agent"] = "relay_to_agent"
    escalation_id: int
    text: str
    at: datetime


class StoreClosingAnswer(_Action):
    """Keep the customer's "did we solve it?" answer; "no" reopens the escalation."""

    kind: Literal["closing_answer"] = "closing_answer"
    escalation_id: int
    solved: bool
    at: datetime


class ReasonSkipped(_Action):
    """The customer chose Skip on the reason question (channels acknowledge it as a skip)."""

    kind: Literal["reason_skipped"] = "reason_skipped"
    survey_id: int
    at: datetime


class MarkReviewInvited(_Action):
    """Remember that the customer was invited to a public review (once per period)."""

    kind: Literal["review_invited"] = "review_invited"
    at: datetime


Action = (
    Send
    | StoreResponse
    | StoreComment
    | MarkSurvey
    | OpenEscalation
    | ScheduleTimer
    | MarkOptOut
    | EraseCustomer
    | MarkOptIn
    | SetLanguage
    | RelayToAgent
    | StoreClosingAnswer
    | MarkReviewInvited
    | ReasonSkipped
)
