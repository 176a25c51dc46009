"""The journey: the company's designed stages and touchpoints, loaded from YAML and validated.

A journey file names, per stage, the business event that triggers it, the delay, the metric,
the question and follow-up texts in every language, expiry, reminder and reason choices.
System messages (help, thanks, re-ask…) live in the same file so a company can reword them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from flows.errors import JourneyError
from flows.escalation import DEFAULT_RULES, EscalationRules
from flows.scales import Lang, Metric, Sentiment
from flows.topics import Topic

DEFAULT_JOURNEY = Path(__file__).parent / "journeys" / "default.yaml"

KNOWN_EVENTS = frozenset(
    {
        "order.placed",
        "order.shipped",
        "order.delivered",
        "order.cancelled",
        "order.returned",
        "order.refunded",
        "order.repurchased",
        "ticket.opened",
        "ticket.closed",
        "ticket.reopened",
    }
)

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
PLACEHOLDERS = frozenset({"brand", "order", "product", "ticket", "name", "link", "referral", "low", "high"})


def _bounded(make: Callable[[], timedelta], value: object) -> timedelta:
    """Return ``make()``; timedelta's OverflowError (past 999,999,999 days) becomes a ValueError."""
    try:
        return make()
    except OverflowError:
        raise ValueError(f"duration {value!r} is too long") from None


def parse_duration(value: object) -> timedelta:
    """Return the timedelta of ``"90m"``, ``"24h"``, ``"7d"``, ``"2w"`` or a number of seconds.

    Raises:
        ValueError: when the value is not such a duration or is negative.
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):
        raise ValueError("expected a duration like 30m, 24h or 7d")
    elif isinstance(value, int | float):
        result = _bounded(lambda: timedelta(seconds=value), value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        result = _bounded(lambda: timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}), value)
    elif isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"negative duration {value!r}: delays count forward from the event")
    else:
        raise ValueError(f"{value!r} is not a duration like 30m, 24h or 7d")
    if result < timedelta(0):
        raise ValueError(f"negative duration {value!r}: delays count forward from the event")
    return result


class Texts(BaseModel):
    """One text in every supported language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    it: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def __call__(self, lang: Lang) -> str:
        """Return the text in ``lang``."""
        return self.it if lang is Lang.IT else self.en

    @field_validator("it", "en")
    @classmethod
    def _known_placeholders(cls, text: str) -> str:
        unknown = set(_PLACEHOLDER.findall(text)) - PLACEHOLDERS
        if unknown:
            allowed = ", ".join(sorted(PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {allowed})")
        return text


class Reason(BaseModel):
    """A quick-reply reason offered after the score (e.g. delivery: late; delivery: fast)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")
    label: Texts
    topic: Topic | None = None  # the theme (what hurts or what works) this reason counts towards


class ReasonSets(BaseModel):
    """The reason chips offered after a score, per score band (CX_METHOD §3 bands).

    A plain list in the YAML is offered after every score; a mapping names the chips after a
    ``negative``, ``neutral`` and ``positive`` score (what hurt, what could be better, what worked).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    negative: tuple[Reason, ...] = ()
    neutral: tuple[Reason, ...] = ()
    positive: tuple[Reason, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return {"negative": value, "neutral": value, "positive": value}
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> ReasonSets:
        for band in (self.negative, self.neutral, self.positive):
            ids = [r.id for r in band]
            if len(ids) != len(set(ids)):
                raise ValueError(f"reason id {next(i for i in ids if ids.count(i) > 1)!r} is used twice")
        return self

    def for_sentiment(self, band: Sentiment) -> tuple[Reason, ...]:
        """Return the chips offered after a score of ``band``."""
        return {Sentiment.NEGATIVE: self.negative, Sentiment.NEUTRAL: self.neutral}.get(band, self.positive)

    def all(self) -> tuple[Reason, ...]:
        """Return every chip once (by id, first band first)."""
        seen: dict[str, Reason] = {}
        for reason in (*self.negative, *self.neutral, *self.positive):
            seen.setdefault(reason.id, reason)
        return tuple(seen.values())

    def __len__(self) -> int:
        return len(self.all())


class StageKind(StrEnum):
    """Transactional (one moment) or relationship (overall loyalty) measurement."""

    TRANSACTIONAL = "transactional"
    RELATIONSHIP = "relationship"


class Stage(BaseModel):
    """One designed touchpoint of the journey."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: Texts
    trigger: str
    metric: Metric
    kind: StageKind = StageKind.TRANSACTIONAL
    delay: timedelta = timedelta(0)
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    expiry: timedelta = timedelta(hours=72)
    reminder: timedelta | None = None
    priority: int = Field(default=0, description="higher wins when two surveys collide")
    cancel_on: tuple[str, ...] = ()
    question: Texts
    follow_up: Texts
    reasons: ReasonSets = ReasonSets()
    review_invitation: bool = False
    #: After expiry, replies within this window are kept as late comments (never scores).
    late_window: timedelta = timedelta(days=7)
    #: How long the reason question waits before the review invitation goes out anyway.
    reason_timeout: timedelta = timedelta(hours=24)

    @field_validator("delay", "expiry", "reminder", "late_window", "reason_timeout", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return None if value is None else parse_duration(value)

    @field_validator("trigger")
    @classmethod
    def _known_trigger(cls, value: str) -> str:
        if value not in KNOWN_EVENTS:
            raise ValueError(f"unknown event {value!r} (known: {', '.join(sorted(KNOWN_EVENTS))})")
        return value

    @field_validator("cancel_on")
    @classmethod
    def _known_cancel(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for event in value:
            if event not in KNOWN_EVENTS:
                raise ValueError(f"unknown event {event!r} (known: {', '.join(sorted(KNOWN_EVENTS))})")
        return value

    @model_validator(mode="after")
    def _timing(self) -> Stage:
        if self.expiry <= timedelta(0):
            raise ValueError("expiry must be positive")
        if self.reminder is not None and self.reminder >= self.expiry:
            raise ValueError("reminder must come before expiry")
        return self


class Messages(BaseModel):
    """The bot's own words, outside any stage question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    welcome: Texts
    help: Texts
    reask: Texts
    reask_contradiction: Texts
    thanks: Texts
    thanks_negative: Texts
    refused: Texts
    opted_out: Texts
    opted_in: Texts
    language_prompt: Texts
    language_set: Texts
    nothing_pending: Texts
    expired_kept: Texts
    stale_button: Texts
    reminder_prefix: Texts
    skip_label: Texts
    complaint_noted: Texts
    review_invitation: Texts
    referral_invitation: Texts
    # Privacy texts have defaults so journeys written before them stay valid.
    privacy_info: Texts = Texts(
        it=(
            "Conserviamo il tuo nome, la chat da cui ci scrivi, i tuoi ordini e le tue risposte ai "
            "sondaggi, solo per migliorare il servizio. Puoi chiederne una copia al servizio clienti, "
            "oppure cancellare subito i tuoi dati personali con il pulsante qui sotto: i voti restano "
            "solo in forma anonima e non riceverai più sondaggi."
        ),
        en=(
            "We keep your name, the chat you write from, your orders and your survey answers, only to "
            "improve our service. You can ask customer service for a copy, or erase your personal data "
            "now with the button below: scores are kept only anonymously and you won't receive any "
            "more surveys."
        ),
    )
    # After /stop the bot must not promise questions it will never send (a default: older journeys).
    opted_out_idle: Texts = Texts(
        it="Non riceverai più sondaggi da {brand}. Se cambi idea, scrivi /start.",
        en="You won't receive surveys from {brand} any more. If you change your mind, send /start.",
    )
    privacy_erase_label: Texts = Texts(it="Cancella i miei dati", en="Erase my data")
    privacy_erased: Texts = Texts(
        it=(
            "Fatto: abbiamo cancellato i tuoi dati personali e non riceverai più sondaggi. "
            "Grazie per averci dato fiducia."
        ),
        en=(
            "Done: your personal data has been erased and you won't receive any more surveys. "
            "Thank you for trusting us."
        ),
    )


class Journey(BaseModel):
    """The whole designed journey."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    brand: str = Field(min_length=1)
    default_language: Lang = Lang.IT
    review_link: str = ""
    referral_link: str = ""
    messages: Messages
    stages: tuple[Stage, ...] = Field(min_length=1)
    escalation: EscalationRules = DEFAULT_RULES  # optional: thresholds and SLAs (CX_METHOD §3)

    @model_validator(mode="after")
    def _unique_ids(self) -> Journey:
        seen: set[str] = set()
        for stage in self.stages:
            if stage.id in seen:
                raise ValueError(f"stage id {stage.id!r} is used twice")
            seen.add(stage.id)
        return self

    def stage(self, stage_id: str) -> Stage:
        """Return the stage with ``stage_id``.

        Raises:
            KeyError: when there is no such stage.
        """
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def triggered_by(self, event_type: str) -> tuple[Stage, ...]:
        """Return the stages that an event of ``event_type`` schedules."""
        return tuple(s for s in self.stages if s.trigger == event_type)

    def cancelled_by(self, event_type: str) -> tuple[Stage, ...]:
        """Return the stages whose pending surveys an event of ``event_type`` cancels."""
        return tuple(s for s in self.stages if event_type in s.cancel_on)


def _field_path(source: str, loc: tuple[int | str, ...], data: Any) -> str:
    """Return ``stages[1].question.it`` style paths, naming stages by id when possible."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and 0 <= item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("id")
                if ident:
                    label = f"[{item}:{ident}]"
            parts.append(label)
            node = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
        else:
            parts.append(("." if parts else "") + item)
            node = node.get(item) if isinstance(node, dict) else None
    return f"{source}: {''.join(parts) or '(top level)'}"


def parse_journey(text: str, source: str = "<journey>") -> Journey:
    """Return the journey described by YAML ``text``.

    Raises:
        JourneyError: listing every problem as ``file: field: reason``.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(YAML)"
        raise JourneyError([f"{source}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    if not isinstance(data, dict):
        raise JourneyError([f"{source}: (top level): expected a mapping with brand, messages and stages"])
    try:
        return Journey.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                reason = "required field is missing"
            elif err["type"] == "extra_forbidden":
                reason = "unknown field"
            problems.append(f"{_field_path(source, tuple(err['loc']), data)}: {reason}")
        raise JourneyError(problems) from exc


def load_journey(path: Path | str | None = None) -> Journey:
    """Return the journey in the YAML file at ``path`` (the shipped default when None).

    Raises:
        JourneyError: when the file cannot be read or is invalid.
    """
    file = Path(path) if path is not None else DEFAULT_JOURNEY
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise JourneyError([f"{file}: cannot read the file: {exc.strerror or exc}"]) from exc
    return parse_journey(text, str(file))
