"""Feeding due timers (surveys, reminders, expiries) through the service's entry point.

The scheduler (APScheduler in ``cxbot serve``, a simulated clock in the demo) only calls
``run_due_work``; what is due lives in the ``due_work`` table and is claimed with a lease.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

import structlog
from sqlmodel import Session

from bot.service import Service
from flows.conversation import Inbound, ReminderDue, SurveyDue, SurveyExpired
from storage import repo
from storage.claims import ClaimedWork, claim_due_work
from storage.tables import SurveyInstance

log = structlog.get_logger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
_MAX_ATTEMPTS = 5


def _inbound_for(work: ClaimedWork, survey: SurveyInstance) -> Inbound:
    assert survey.id is not None
    if work.kind == "survey_due":
        return SurveyDue(survey_id=survey.id, stage=survey.stage, placeholders=dict(survey.placeholders))
    if work.kind == "reminder":
        return ReminderDue(survey_id=survey.id)
    return SurveyExpired(survey_id=survey.id)


def _handle(service: Service, work: ClaimedWork, now: datetime) -> str:
    with service.db.read() as session:
        survey = session.get(SurveyInstance, work.survey_id) if work.survey_id is not None else None
        reachable = repo.reachable_identity(session, work.customer_id) is not None
    if survey is None or survey.status in ("cancelled", "skipped"):
        with service.db.write() as session:
            repo.finish_work(session, work.id, now)
        return "dropped"
    if work.kind == "survey_due" and not reachable:
        # The bot cannot write first: wait until the customer starts it (deep link), then release.
        with service.db.write() as session:
            repo.finish_work(session, work.id, now, status="waiting")
        return "waiting"

    def mark_done(session: Session) -> None:
        repo.finish_work(session, work.id, now)

    service.feed(work.customer_id, _inbound_for(work, survey), now=now, within=mark_done)
    return "fed"


def run_due_work(
    service: Service, now: datetime, *, limit: int = 200, owner: str = WORKER_ID
) -> dict[str, int]:
    """Claim the timers due at ``now`` and feed each through the service; return counts by outcome."""
    counts: dict[str, int] = {}
    for work in claim_due_work(service.db, owner, now, limit=limit):
        try:
            outcome = _handle(service, work, now)
        except Exception:
            # The lease expires and another pass retries; give up after a few attempts.
            log.exception("due_work_failed", work_id=work.id, kind=work.kind, attempts=work.attempts)
            outcome = "failed"
            if work.attempts >= _MAX_ATTEMPTS:
                with service.db.write() as session:
                    repo.finish_work(session, work.id, now, status="failed")
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
