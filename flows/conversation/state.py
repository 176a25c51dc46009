"""A customer's conversation state: immutable and JSON-serialisable, stored in the database."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from flows.scales import Lang, Metric


class SurveyStatus(StrEnum):
    """Life of one survey instance."""

    SCHEDULED = "scheduled"  # waiting for its due time (storage only)
    QUEUED = "queued"  # due, waiting behind another open question
    SENT = "sent"  # asked, no score yet
    ANSWERED = "answered"  # score stored (comment may follow)
    COMMENTED = "commented"  # no score, the words were kept as a comment
    REFUSED = "refused"
    EXPIRED = "expired"
    SKIPPED = "skipped"  # not asked: opted out, suppressed, sampled out
    CANCELLED = "cancelled"  # the business event that made it moot (return, reopen)


class Phase(StrEnum):
    """What the open survey is waiting for."""

    SCORE = "score"
    REASON = "reason"


class PendingSurvey(BaseModel):
    """A due survey waiting for its turn."""

    model_config = ConfigDict(frozen=True)

    survey_id: int
    stage: str
    priority: int = 0
    placeholders: dict[str, str] = Field(default_factory=dict)
    deadline: datetime | None = None  # not asked after it (None: states stored before deadlines)


class ActiveSurvey(BaseModel):
    """The survey whose question is open now."""

    model_config = ConfigDict(frozen=True)

    survey_id: int
    stage: str
    metric: Metric
    phase: Phase = Phase.SCORE
    asked_at: datetime
    expires_at: datetime
    reasks: int = 0
    reminded: bool = False
    score: int | None = None
    placeholders: dict[str, str] = Field(default_factory=dict)


class LateSurvey(BaseModel):
    """A survey whose question expired: a reply until ``until`` is kept as a late comment on it."""

    model_config = ConfigDict(frozen=True)

    survey_id: int
    stage: str
    until: datetime


class ConversationState(BaseModel):
    """Everything the engine knows about one customer's conversation."""

    model_config = ConfigDict(frozen=True)

    language: Lang = Lang.IT
    opted_out: bool = False
    active: ActiveSurvey | None = None
    queue: tuple[PendingSurvey, ...] = ()
    handoff: int | None = None  # escalation an agent has taken: texts go to the agent
    closing: int | None = None  # resolved escalation whose "did we solve it?" is open
    review_invited_at: datetime | None = None  # last public-review invitation
    case_open: bool = False  # an escalation was opened and not yet resolved (words join it)
    late: tuple[LateSurvey, ...] = ()  # recently expired questions, newest last
