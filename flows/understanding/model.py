"""The result types of reply understanding: what a reply means to the conversation engine."""

from __future__ import annotations

from enum import StrEnum

import pydantic

from flows.scales import Lang
from flows.topics import Topic


class Intent(StrEnum):
    """What the customer is doing with a reply."""

    SCORE = "score"
    REASK = "reask"
    REFUSE = "refuse"
    OPT_OUT = "opt_out"
    COMMENT = "comment"
    LANGUAGE = "language"
    HELP = "help"
    GREETING = "greeting"
    HUMAN = "human"  # asks to talk to a person
    PRIVACY = "privacy"  # asks what data is kept, or to erase it


class ReaskReason(StrEnum):
    """Why a reply to a rating question gave no usable score (ANSWER_POLICY "Re-ask")."""

    UNCLEAR = "unclear"
    OUT_OF_RANGE = "out_of_range"
    DECIMAL = "decimal"
    RANGE = "range"
    OTHER_SCALE = "other_scale"
    STARS_NOT_ALLOWED = "stars_not_allowed"
    EMOJI = "emoji"
    SEVERAL = "several"
    TYPO = "typo"
    SARCASM = "sarcasm"
    CONTRADICTION = "contradiction"


class Understanding(pydantic.BaseModel, frozen=True):
    """The meaning of one reply."""

    intent: Intent
    score: int | None = None
    comment: str | None = None  # the words beyond the score (stripped), None when nothing meaningful
    negative: bool = False  # does the text need a human?
    topics: tuple[Topic, ...] = ()
    reason: ReaskReason | None = None  # set when intent is REASK
    language: Lang | None = None  # set when intent is LANGUAGE: the language asked for
