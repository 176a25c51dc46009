"""When an answer needs a human, how urgently, and by when (CX_METHOD §3).

Pure: the thresholds come from the journey's optional ``escalation:`` section
(``EscalationRules``); the defaults are CX_METHOD's. The due time of a case is decided here
only (``ServiceLevels``: the rules on the company's calendar); bot/ stores what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flows.scales import Metric
from flows.topics import URGENT_TOPICS, Topic

if TYPE_CHECKING:  # the holidays package costs ~35 ms at import: loaded when the calendar is built
    from flows.holidays import HolidayRules


class Priority(StrEnum):
    """P1: same business day. P2: within 48 hours."""

    P1 = "p1"
    P2 = "p2"


class EscalationRules(BaseModel):
    """Thresholds and service levels of escalations (the journey's ``escalation:`` section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Highest score of each tier, per metric.
    p1_max: dict[Metric, int] = Field(default_factory=lambda: {Metric.NPS: 4, Metric.CSAT: 1, Metric.CES: 2})
    p2_max: dict[Metric, int] = Field(default_factory=lambda: {Metric.NPS: 6, Metric.CSAT: 2, Metric.CES: 3})
    urgent_topics: frozenset[Topic] = URGENT_TOPICS
    p1_business_hours: float = Field(default=4.0, gt=0, le=200)
    p2_hours: float = Field(default=48.0, gt=0, le=2000)
    business_start: time = time(9, 0)
    business_end: time = time(18, 0)
    business_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    holidays: bool = Field(default=True, description="the company's public holidays are not business days")
    warn_at: float = Field(default=0.75, gt=0, lt=1, description="share of the SLA window before a nudge")
    review_every_days: int = Field(default=90, ge=1, le=3650, description="review invitations: once per")

    @model_validator(mode="after")
    def _consistent(self) -> EscalationRules:
        for metric in Metric:
            p1 = self.p1_max.get(metric, metric.low - 1)
            p2 = self.p2_max.get(metric, p1)
            if p2 < p1:
                raise ValueError(f"p2_max for {metric.value} is below p1_max")
        if self.business_end <= self.business_start:
            raise ValueError("business_end must come after business_start")
        if not self.business_days or not self.business_days <= set(range(7)):
            raise ValueError("business_days must be weekday numbers 0 (Monday) to 6")
        return self


DEFAULT_RULES = EscalationRules()


def escalation_priority(
    metric: Metric | None,
    score: int | None,
    negative: bool,
    topics: Iterable[Topic] = (),
    rules: EscalationRules = DEFAULT_RULES,
) -> Priority | None:
    """Return the priority with which an answer goes to a human, or None when it need not.

    Urgent themes (parcel not received, refund, damaged/wrong item, rude staff, unresolved
    issue, legal, safety) are P1 whatever the score; otherwise the score decides, and a
    neutral or positive score escalates (P2) only with a negative comment.
    """
    if negative and rules.urgent_topics.intersection(topics):
        return Priority.P1
    if metric is not None and score is not None:
        if metric in rules.p1_max and score <= rules.p1_max[metric]:
            return Priority.P1
        if metric in rules.p2_max and score <= rules.p2_max[metric]:
            return Priority.P2
    return Priority.P2 if negative else None


def _open_on(day: date, rules: EscalationRules, holidays: HolidayRules | None) -> bool:
    """Return whether ``day`` is a business day: a business weekday, not one of the company's holidays."""
    if day.weekday() not in rules.business_days:
        return False
    return not (rules.holidays and holidays is not None and day in holidays.company_holidays(day.year))


def _add_business_time(
    start: datetime, amount: timedelta, rules: EscalationRules, tz: tzinfo, holidays: HolidayRules | None
) -> datetime:
    """Return ``start`` + ``amount`` counted only inside business hours (in ``tz``)."""
    local = start.astimezone(tz)
    left = amount
    for _ in range(3700):  # bounded: at most ~10 years of days
        day_open = datetime.combine(local.date(), rules.business_start, tzinfo=tz)
        day_close = datetime.combine(local.date(), rules.business_end, tzinfo=tz)
        if _open_on(local.date(), rules, holidays) and local < day_close:
            begin = max(local, day_open)
            if begin + left <= day_close:
                return (begin + left).astimezone(start.tzinfo)
            left -= day_close - begin
        next_day = local.date() + timedelta(days=1)
        local = datetime.combine(next_day, rules.business_start, tzinfo=tz)
    raise ValueError("business hours never open")  # pragma: no cover - validated rules prevent it


def sla_due_at(
    opened_at: datetime,
    priority: Priority,
    rules: EscalationRules,
    tz: tzinfo,
    holidays: HolidayRules | None = None,
) -> datetime:
    """Return when an escalation opened at ``opened_at`` must be resolved.

    P1: ``p1_business_hours`` of business time (Mon–Fri 09–18 in ``tz`` by default, closed on
    the company's ``holidays`` when given); P2: ``p2_hours`` of calendar time.
    """
    if priority is Priority.P1:
        return _add_business_time(opened_at, timedelta(hours=rules.p1_business_hours), rules, tz, holidays)
    return opened_at + timedelta(hours=rules.p2_hours)


def business_time_between(
    start: datetime,
    end: datetime,
    rules: EscalationRules,
    tz: tzinfo,
    holidays: HolidayRules | None = None,
) -> timedelta:
    """Return how much business time (``rules``' days and hours in ``tz``) lies in [start, end)."""
    total = timedelta(0)
    local, stop = start.astimezone(tz), end.astimezone(tz)
    for _ in range(3700):  # bounded: at most ~10 years of days
        if local >= stop:
            break
        day_open = datetime.combine(local.date(), rules.business_start, tzinfo=tz)
        day_close = datetime.combine(local.date(), rules.business_end, tzinfo=tz)
        if _open_on(local.date(), rules, holidays):
            begin, finish = max(local, day_open), min(stop, day_close)
            if finish > begin:
                total += finish - begin
        local = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
    return total


def warn_at(
    opened_at: datetime,
    due_at: datetime,
    rules: EscalationRules,
    tz: tzinfo | None = None,
    priority: Priority | None = None,
    holidays: HolidayRules | None = None,
) -> datetime:
    """Return when an unresolved escalation is nudged again (``warn_at`` of its window).

    A P1 window is business time (given ``tz``): the nudge counts business hours too, so a P1
    opened Friday 16:00 and due Monday 11:00 is nudged Monday morning, never on Sunday.
    """
    if priority is Priority.P1 and tz is not None:
        window = business_time_between(opened_at, due_at, rules, tz, holidays)
        return _add_business_time(opened_at, window * rules.warn_at, rules, tz, holidays)
    return opened_at + (due_at - opened_at) * rules.warn_at


def _company_holidays() -> HolidayRules:
    from flows.holidays import HolidayRules

    return HolidayRules()


@dataclass(frozen=True)
class ServiceLevels:
    """The escalation rules on the company's calendar: business hours in its time zone, closed on
    its public holidays. The one source of every case's due time and nudge time."""

    rules: EscalationRules = DEFAULT_RULES
    timezone: str = "Europe/Rome"  # the company's (settings: CXBOT_COMPANY_TIMEZONE)
    holidays: HolidayRules = field(default_factory=_company_holidays)

    @property
    def tz(self) -> tzinfo:
        """Return the company's time zone."""
        return ZoneInfo(self.timezone)

    def due_at(self, opened_at: datetime, priority: Priority) -> datetime:
        """Return when a case of ``priority`` opened at ``opened_at`` must be resolved."""
        return sla_due_at(opened_at, priority, self.rules, self.tz, self.holidays)

    def raised_due_at(self, due_at: datetime | None, now: datetime, priority: Priority) -> datetime:
        """Return the due time of a case whose priority was raised to ``priority`` at ``now``:
        brought forward to the new priority's, never later than it was."""
        raised = self.due_at(now, priority)
        return min(due_at or raised, raised)

    def warn_at(self, opened_at: datetime, due_at: datetime, priority: Priority | None) -> datetime:
        """Return when an unresolved case due at ``due_at`` is nudged (see :func:`warn_at`)."""
        return warn_at(opened_at, due_at, self.rules, self.tz, priority, self.holidays)
