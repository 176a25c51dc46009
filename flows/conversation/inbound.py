"""What can happen to a conversation: customer input, commands and timers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from flows.scales import Lang


class _Inbound(BaseModel):
    model_config = ConfigDict(frozen=True)


class CustomerText(_Inbound):
    """The customer typed something."""

    kind: Literal["text"] = "text"
    text: str = Field(max_length=4096)


class CustomerMedia(_Inbound):
    """The customer sent something without words the case can use as evidence (a photo, a video,
    a document, a voice note): ``media`` names it. Only an open case no agent holds yet takes it;
    elsewhere the channel answers media itself."""

    kind: Literal["media"] = "media"
    media: str = Field(max_length=32)


class ButtonPress(_Inbound):
    """The customer tapped a choice; ``survey_id`` is None for choices outside a survey."""

    kind: Literal["button"] = "button"
    survey_id: int | None
    value: str = Field(max_length=32)


class CommandName(StrEnum):
    """Commands understood in both languages (/aiuto = /help, /lingua = /language)."""

    HELP = "help"
    LANGUAGE = "language"
    STOP = "stop"
    PRIVACY = "privacy"


class Command(_Inbound):
    """A slash command."""

    kind: Literal["command"] = "command"
    name: CommandName
    argument: str = ""


class SurveyDue(_Inbound):
    """Timer: a scheduled survey's time has come."""

    kind: Literal["survey_due"] = "survey_due"
    survey_id: int
    stage: str
    placeholders: dict[str, str] = Field(default_factory=dict)
    deadline: datetime | None = None  # planned due time + the stage's expiry: never asked after it


class Started(_Inbound):
    """The customer started the bot (``/start``), bound or not to a known customer.

    ``due``: a survey that waited for this chat and may be asked now; it comes with the welcome,
    in the same message, instead of one due-work tick (and the chat's 1 s send spacing) later.
    """

    kind: Literal["started"] = "started"
    bound: bool = False
    language: Lang | None = None
    due: SurveyDue | None = None


class ReminderDue(_Inbound):
    """Timer: remind the customer of an unanswered question."""

    kind: Literal["reminder_due"] = "reminder_due"
    survey_id: int


class ReasonTimeout(_Inbound):
    """Timer: the reason question was left alone long enough; the review invitation goes out."""

    kind: Literal["reason_timeout"] = "reason_timeout"
    survey_id: int


class SurveyExpired(_Inbound):
    """Timer: the survey stops accepting answers."""

    kind: Literal["survey_expired"] = "survey_expired"
    survey_id: int


class AgentActionKind(StrEnum):
    """What a support agent did with the customer's escalation."""

    TAKEN = "taken"
    REPLIED = "replied"
    HANDED_BACK = "handed_back"
    RESOLVED = "resolved"


class AgentAction(_Inbound):
    """A support agent acted on escalation ``escalation_id`` (``text``: the reply, if any)."""

    kind: Literal["agent"] = "agent"
    action: AgentActionKind
    escalation_id: int
    text: str = Field(default="", max_length=4096)


Inbound = Annotated[
    CustomerText
    | CustomerMedia
    | ButtonPress
    | Started
    | Command
    | SurveyDue
    | ReminderDue
    | ReasonTimeout
    | SurveyExpired
    | AgentAction,
    Field(discriminator="kind"),
]
