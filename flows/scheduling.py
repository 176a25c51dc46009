"""Which surveys a business event schedules or cancels, when they are due, and whether a due one
is sent now (quiet hours, frequency caps, suppression, collisions). Pure: ``now`` is an argument."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.errors import ConfigError
from flows.holidays import HolidayRules
from flows.journey import Journey, Stage, StageKind


@dataclass(frozen=True)
class PlannedSurvey:
    """A survey a business event asks for."""

    stage: Stage
    due_at: datetime


def sampled_in(event_id: str, stage: Stage) -> bool:
    """Return True when this event falls in the stage's sample (deterministic per event and stage)."""
    if stage.sample_rate >= 1.0:
        return True
    digest = hashlib.sha256(f"{event_id}|{stage.id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < stage.sample_rate


def plan_surveys(
    journey: Journey, event_type: str, event_id: str, occurred_at: datetime
) -> list[PlannedSurvey]:
    """Return the surveys an event schedules: due ``delay`` after it happened, sampled per stage.

    Due times count from ``occurred_at``, so an event that happened long enough ago is due at once.
    """
    return [
        PlannedSurvey(stage=stage, due_at=occurred_at + stage.delay)
        for stage in journey.triggered_by(event_type)
        if sampled_in(event_id, stage)
    ]


def stages_cancelled_by(journey: Journey, event_type: str) -> tuple[str, ...]:
    """Return the ids of the stages whose pending surveys an event of ``event_type`` cancels."""
    return tuple(stage.id for stage in journey.cancelled_by(event_type))


# -- quiet hours (CX_METHOD §5) ---------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """The sending window per weekday (Monday = 0) as (first hour, end hour), None = closed.

    ``holidays`` closes the public holidays of the customer's country (``rules``: by the
    customer's time zone, the company's regional extras) and gives their eves Saturday's hours.
    """

    days: tuple[tuple[int, int] | None, ...] = ((9, 20), (9, 20), (9, 20), (9, 20), (9, 20), (10, 19), None)
    eve_hours: tuple[int, int] = (10, 19)
    holidays: bool = True
    rules: HolidayRules = field(default_factory=HolidayRules)


DEFAULT_QUIET_HOURS = QuietHours()


def parse_quiet_hours(value: str, rules: HolidayRules | None = None) -> QuietHours | None:
    """Return the window named by ``CXBOT_QUIET_HOURS``: ``default`` (CX_METHOD §5) or None for ``off``;
    ``rules`` say whose holidays close it (default: Italy's, by the customer's time zone).

    Raises:
        ConfigError: for any other value.
    """
    choice = value.strip().lower()
    if choice in ("default", "on", ""):
        return DEFAULT_QUIET_HOURS if rules is None else QuietHours(rules=rules)
    if choice in ("off", "none", "false", "0"):
        return None
    raise ConfigError(f"CXBOT_QUIET_HOURS must be 'default' or 'off', not {value!r}")


def italian_holidays(year: int) -> frozenset[date]:
    """Return Italy's national public holidays of ``year`` (from the ``holidays`` package: Easter
    Monday included, 4 October from 2026)."""
    return HolidayRules(country="IT").holidays(year, "Europe/Rome")


def _hours_on(day: date, quiet: QuietHours, timezone: str = "Europe/Rome") -> tuple[int, int] | None:
    if quiet.holidays:
        if day in quiet.rules.holidays(day.year, timezone):
            return None
        hours = quiet.days[day.weekday()]
        tomorrow = day + timedelta(days=1)
        if hours is not None and tomorrow in quiet.rules.holidays(tomorrow.year, timezone):
            return (max(hours[0], quiet.eve_hours[0]), min(hours[1], quiet.eve_hours[1]))
        return hours
    return quiet.days[day.weekday()]


def next_window_open(now: datetime, timezone: str, quiet: QuietHours | None) -> datetime:
    """Return ``now`` when messages may be sent now in ``timezone``, else the window's next opening.

    Returns an aware datetime in the same zone as ``now``; None ``quiet`` means always open.
    An unknown time zone falls back to Europe/Rome.
    """
    if quiet is None:
        return now
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Europe/Rome")
    local = now.astimezone(zone)
    for offset in range(15):  # at most a closed weekend plus a holiday bridge
        day = local.date() + timedelta(days=offset)
        hours = _hours_on(day, quiet, timezone)
        if hours is None:
            continue
        opens = datetime.combine(day, time(hours[0]), tzinfo=zone)
        closes = datetime.combine(day, time(hours[1]), tzinfo=zone)
        if local < opens:
            return opens.astimezone(now.tzinfo)
        if local < closes:
            return now
    return now  # a window that never opens would be a configuration mistake: do not block forever


# -- whether a due survey is sent now (frequency caps, suppression, collisions) ------------------

ANY_SURVEY_GAP = timedelta(hours=24)
SAME_METRIC_GAP = timedelta(days=7)
RELATIONSHIP_GAP = timedelta(days=90)
HOLD_RECHECK = timedelta(hours=1)
COLLISION_RETRY = timedelta(minutes=5)


@dataclass(frozen=True)
class CustomerFacts:
    """What is known about the customer when a survey falls due."""

    timezone: str = "Europe/Rome"
    opted_out: bool = False
    consent: bool | None = None  # None: not stated (allowed); False: refused
    open_escalation: bool = False
    open_ticket: bool = False


@dataclass(frozen=True)
class SentSurvey:
    """A survey the customer was already asked (any channel)."""

    stage: str
    metric: str
    kind: StageKind
    sent_at: datetime


@dataclass(frozen=True)
class DueSurvey:
    """A survey of the customer that is due now: the one being decided or a competitor."""

    survey_id: int
    stage: Stage
    due_at: datetime  # when it was planned (the deadline counts from here)


@dataclass(frozen=True)
class Send:
    """Ask it now."""


@dataclass(frozen=True)
class Postpone:
    """Try again at ``until``; ``reason`` says why (stored on the survey)."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class Skip:
    """Never ask it; ``reason`` says why."""

    reason: str


@dataclass(frozen=True)
class Expire:
    """Never ask it: its deadline (planned due time + the stage's expiry) has passed, or would
    pass before it may be sent; ``reason`` says what held it (``expired`` when nothing did)."""

    reason: str


Decision = Send | Postpone | Skip | Expire

EXPIRED = "expired"


def deadline(survey: DueSurvey) -> datetime:
    """Return the last instant ``survey`` may be sent: its planned due time + the stage's expiry."""
    return survey.due_at + survey.stage.expiry


def in_time(survey: DueSurvey, now: datetime) -> bool:
    """Return True while ``survey`` may still be sent at ``now``."""
    return now < deadline(survey)


def _caps(survey: DueSurvey, now: datetime, history: Sequence[SentSurvey]) -> Postpone | None:
    """Return the latest postponement the frequency caps require, or None."""
    until: datetime | None = None
    reason = ""
    for sent in history:
        rules = [(ANY_SURVEY_GAP, "cap_24h")]
        if sent.metric == survey.stage.metric.value:
            if survey.stage.kind is StageKind.RELATIONSHIP and sent.kind is StageKind.RELATIONSHIP:
                rules.append((RELATIONSHIP_GAP, "cap_relationship_90d"))
            elif survey.stage.kind is StageKind.TRANSACTIONAL and sent.kind is StageKind.TRANSACTIONAL:
                rules.append((SAME_METRIC_GAP, "cap_metric_7d"))
        for gap, why in rules:
            free_at = sent.sent_at + gap
            if free_at > now and (until is None or free_at > until):
                until, reason = free_at, why
    return Postpone(until, reason) if until is not None else None


def _outranked(survey: DueSurvey, competing: Sequence[DueSurvey], now: datetime) -> bool:
    """Return True when another due survey wins the collision (higher priority, then older).

    A competitor already past its deadline never wins: the survey still in time goes first.
    """
    mine = (-survey.stage.priority, survey.survey_id)
    return any((-other.stage.priority, other.survey_id) < mine for other in competing if in_time(other, now))


def decide(
    now: datetime,
    survey: DueSurvey,
    facts: CustomerFacts,
    history: Sequence[SentSurvey] = (),
    competing: Sequence[DueSurvey] = (),
    quiet: QuietHours | None = DEFAULT_QUIET_HOURS,
) -> Decision:
    """Return whether the due ``survey`` is sent now, postponed (until when, why) or skipped (why).

    Rules (CX_METHOD §5): never to opted-out or non-consenting customers; held while an
    escalation or support ticket is open; only inside the quiet-hours window of the customer's
    time zone; at most one survey per 24 h, one of the same metric per 7 days (transactional),
    one relationship NPS per 90 days; on collision the higher ``priority`` goes first (a stale
    competitor never does). The deadline (planned due time + the stage's expiry) is hard: a
    survey past it, or whose postponement reaches it, expires (``Expire``) and is never sent.
    """
    if facts.opted_out:
        return Skip("opted_out")
    if facts.consent is False:
        return Skip("no_consent")
    if not in_time(survey, now):
        return Expire(EXPIRED)
    postpone: Postpone | None = None
    if facts.open_escalation:
        postpone = Postpone(now + HOLD_RECHECK, "escalation_open")
    elif facts.open_ticket:
        postpone = Postpone(now + HOLD_RECHECK, "ticket_open")
    else:
        postpone = _caps(survey, now, history)
        if postpone is None and _outranked(survey, competing, now):
            postpone = Postpone(now + COLLISION_RETRY, "collision")
    if postpone is None:
        opens = next_window_open(now, facts.timezone, quiet)
        if opens > now:
            postpone = Postpone(opens, "quiet_hours")
    else:
        postpone = Postpone(next_window_open(postpone.until, facts.timezone, quiet), postpone.reason)
    if postpone is None:
        return Send()
    if postpone.until >= deadline(survey):
        return Expire(postpone.reason)
    return postpone
