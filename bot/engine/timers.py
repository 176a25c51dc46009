"""Feeding due timers (surveys, reminders, expiries) through the service's entry point.

The scheduler (APScheduler in ``cxbot serve``, a simulated clock in the demo) only calls
``run_due_work``; what is due lives in the ``due_work`` table and is claimed with a lease, so
several workers on one PostgreSQL never feed a timer twice, and a crashed worker's leases
expire and are taken over. Whether a due survey is sent now is decided by the pure
``flows.scheduling.decide``; this module only reads its inputs and records its outcome.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal

import structlog

from bot.engine.service import Service
from bot.events.facts import load_context
from bot.infra.leader import WORKER_ID
from bot.observability import metrics
from flows.conversation import Inbound, ReasonTimeout, ReminderDue, SurveyDue, SurveyExpired
from flows.journey import Journey
from flows.scheduling import (
    Expire,
    Postpone,
    QuietHours,
    Skip,
    decide,
    next_window_open,
)
from storage import repo
from storage.claims import ClaimedWork, claim_due_work
from storage.db import Session
from storage.tables import Customer, SurveyInstance

log = structlog.get_logger(__name__)

_MAX_ATTEMPTS = 5
FROM_SETTINGS: Literal["settings"] = "settings"


def configured_quiet_hours() -> QuietHours | None:
    """Return the window ``CXBOT_QUIET_HOURS`` names (None when off).

    Raises:
        ConfigError: when the setting is not 'default' or 'off'.
    """
    from bot.infra.settings import get_settings, quiet_hours

    return quiet_hours(get_settings())


def _survey_due(journey: Journey, survey: SurveyInstance) -> SurveyDue:
    assert survey.id is not None
    try:
        deadline: datetime | None = survey.due_at + journey.stage(survey.stage).expiry
    except KeyError:
        deadline = None
    return SurveyDue(
        survey_id=survey.id, stage=survey.stage, placeholders=dict(survey.placeholders), deadline=deadline
    )


def _inbound_for(service: Service, work: ClaimedWork, survey: SurveyInstance) -> Inbound:
    assert survey.id is not None
    if work.kind == "survey_due":
        return _survey_due(service.journey, survey)
    if work.kind == "reminder":
        return ReminderDue(survey_id=survey.id)
    if work.kind == "reason_timeout":
        return ReasonTimeout(survey_id=survey.id)
    return SurveyExpired(survey_id=survey.id)


def _postpone(service: Service, work: ClaimedWork, until: datetime, reason: str | None) -> str:
    with service.db.write() as session:
        repo.postpone_work(session, work.id, until)
        survey = session.get(SurveyInstance, work.survey_id) if reason is not None else None
        if survey is not None:
            survey.reason = reason
            session.add(survey)
    return "postponed"


def _skip(service: Service, work: ClaimedWork, reason: str, now: datetime) -> str:
    with service.db.write() as session:
        survey = session.get(SurveyInstance, work.survey_id)
        if survey is not None and survey.status == "scheduled":
            survey.status, survey.reason, survey.closed_at = "skipped", reason, now
            session.add(survey)
        repo.finish_work(session, work.id, now)
    return "skipped"


def _expire(service: Service, work: ClaimedWork, reason: str, now: datetime) -> str:
    """Record a survey whose deadline passed before it could be sent: expired, with what held it."""
    with service.db.write() as session:
        survey = session.get(SurveyInstance, work.survey_id)
        expired = survey is not None and survey.status == "scheduled"
        if survey is not None and expired:
            survey.status, survey.reason, survey.closed_at = "expired", reason, now
            session.add(survey)
        repo.finish_work(session, work.id, now)
    if expired:
        metrics.SURVEYS.labels("expired").inc()
    log.info("survey_expired_unsent", survey_id=work.survey_id, reason=reason)
    return "expired"


def _handle(service: Service, work: ClaimedWork, now: datetime, quiet: QuietHours | None) -> str:
    with service.db.read() as session:
        survey = session.get(SurveyInstance, work.survey_id) if work.survey_id is not None else None
        reachable = repo.reachable_identity(session, work.customer_id) is not None
        context = None
        if survey is not None and work.kind == "survey_due" and survey.status == "scheduled":
            context = load_context(session, service.journey, survey, now)
        customer = session.get(Customer, work.customer_id)
    if survey is None or survey.status in ("cancelled", "skipped"):
        with service.db.write() as session:
            repo.finish_work(session, work.id, now)
        return "dropped"
    if context is not None:
        decision = decide(now, context.survey, context.facts, context.history, context.competing, quiet)
        if isinstance(decision, Skip):
            return _skip(service, work, decision.reason, now)
        if isinstance(decision, Expire):
            return _expire(service, work, decision.reason, now)
        if isinstance(decision, Postpone):
            return _postpone(service, work, decision.until, decision.reason)
    if work.kind == "reminder" and customer is not None:
        opens = next_window_open(now, customer.timezone, quiet)
        if opens > now:
            # A reminder waits for the window too; the engine ignores it after expiry.
            return _postpone(service, work, opens, None)
    if work.kind == "survey_due" and not reachable:
        # The bot cannot write first: wait until the customer starts it (deep link), then release.
        # Checked again inside the write: a Start committed since the read must not be overwritten.
        with service.db.write() as session:
            if repo.reachable_identity(session, work.customer_id) is None:
                repo.finish_work(session, work.id, now, status="waiting")
                return "waiting"

    def mark_done(session: Session) -> None:
        repo.finish_work(session, work.id, now)

    service.feed(work.customer_id, _inbound_for(service, work, survey), now=now, within=mark_done)
    return "fed"


def due_at_start(
    service: Service,
    customer_id: str,
    now: datetime,
    *,
    quiet: QuietHours | Literal["settings"] | None = FROM_SETTINGS,
) -> tuple[int, SurveyDue] | None:
    """``due_in_session`` in a read session of its own."""
    with service.db.read() as session:
        return due_in_session(session, customer_id, now, journey=service.journey, quiet=quiet)


def due_in_session(
    session: Session,
    customer_id: str,
    now: datetime,
    *,
    journey: Journey,
    quiet: QuietHours | Literal["settings"] | None = FROM_SETTINGS,
) -> tuple[int, SurveyDue] | None:
    """Return the survey that waited for this customer's chat and may be asked now (its timer's
    id and its inbound), or None: what ``/start`` from the deep link asks with the welcome (the
    service asks it inside the transaction binding the chat: ``Service.due_at_start``).

    The same decision as a due-work pass (quiet hours, caps, deadline); anything it would hold,
    skip or expire is left to that pass, which the released timer reaches as usual.
    """
    window = configured_quiet_hours() if quiet == FROM_SETTINGS else quiet
    assert not isinstance(window, str)
    waiting = repo.first_waiting_survey(session, customer_id)
    survey = session.get(SurveyInstance, waiting.survey_id) if waiting and waiting.survey_id else None
    if waiting is None or waiting.id is None or survey is None or survey.status != "scheduled":
        return None
    context = load_context(session, journey, survey, now)
    if context is None:
        return None
    decision = decide(now, context.survey, context.facts, context.history, context.competing, window)
    if isinstance(decision, Skip | Expire | Postpone):
        return None
    return waiting.id, _survey_due(journey, survey)


def run_due_work(
    service: Service,
    now: datetime,
    *,
    limit: int = 200,
    owner: str = WORKER_ID,
    quiet: QuietHours | Literal["settings"] | None = FROM_SETTINGS,
    lease: timedelta = timedelta(minutes=2),
) -> dict[str, int]:
    """Claim the timers due at ``now`` and feed each through the service; return counts by outcome.

    Outcomes: ``fed``, ``postponed`` (quiet hours, caps, open ticket/escalation, collision),
    ``skipped`` (opted out), ``expired`` (its deadline passed, or would before it may be sent:
    recorded as expired with what held it), ``waiting`` (no channel yet), ``dropped``
    (cancelled meanwhile), ``failed`` (retried when the lease expires, up to 5 attempts).
    """
    window = configured_quiet_hours() if quiet == FROM_SETTINGS else quiet
    assert not isinstance(window, str)
    counts: dict[str, int] = {}
    for work in claim_due_work(service.db, owner, now, limit=limit, lease=lease):
        try:
            outcome = _handle(service, work, now, window)
        except Exception:
            # The lease expires and another pass retries; give up after a few attempts.
            log.exception("due_work_failed", work_id=work.id, kind=work.kind, attempts=work.attempts)
            outcome = "failed"
            if work.attempts >= _MAX_ATTEMPTS:
                with service.db.write() as session:
                    repo.finish_work(session, work.id, now, status="failed")
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


async def due_pass(service: Service, quiet: QuietHours | None) -> None:
    """Run one pass of ``run_due_work`` in a worker thread: the scheduler's tick, or a pass asked
    for at once (a chat was just bound: its waiting survey is due). A failure is logged; the next
    pass tries again. Safe beside other passes: due work is claimed with a lease, each item once.
    """
    try:
        counts = await asyncio.to_thread(run_due_work, service, service.clock(), quiet=quiet)
    except Exception:  # named, not lost in the scheduler's log
        log.exception("due_work_pass_failed")
        return
    if counts:
        log.info("due_work", **counts)
