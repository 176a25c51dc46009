"""Reading what ``flows.scheduling.decide`` needs about a customer from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.journey import Journey, StageKind
from flows.scheduling import RELATIONSHIP_GAP, CustomerFacts, DueSurvey, SentSurvey
from storage import customers, survey_context
from storage.db import Session
from storage.tables import SurveyInstance


@dataclass(frozen=True)
class SurveyContext:
    """The decision's inputs for one due survey."""

    survey: DueSurvey
    facts: CustomerFacts
    history: list[SentSurvey]
    competing: list[DueSurvey]


def _kind(journey: Journey, stage_id: str) -> StageKind:
    try:
        return journey.stage(stage_id).kind
    except KeyError:
        return StageKind.TRANSACTIONAL


def load_context(
    session: Session, journey: Journey, survey: SurveyInstance, now: datetime
) -> SurveyContext | None:
    """Return the decision's inputs for ``survey``, or None when its stage left the journey."""
    assert survey.id is not None and survey.customer_id is not None
    try:
        stage = journey.stage(survey.stage)
    except KeyError:
        return None
    customer = customers.find(session, survey.customer_id)
    facts = CustomerFacts(
        timezone=customer.timezone if customer else "Europe/Rome",
        opted_out=bool(customer and customer.opted_out),
        consent=customer.consent if customer else None,
        open_escalation=survey_context.has_open_escalation(session, survey.customer_id),
        open_ticket=survey_context.has_open_ticket(session, survey.customer_id),
    )
    sent_rows = survey_context.sent_since(session, survey.customer_id, now - RELATIONSHIP_GAP, survey.id)
    history = [
        SentSurvey(stage=row.stage, metric=row.metric, kind=_kind(journey, row.stage), sent_at=row.sent_at)
        for row in sent_rows
        if row.sent_at is not None
    ]
    # Competitors: the customer's other surveys whose timer is due now and not yet asked.
    due_rows = survey_context.due_unasked(session, survey.customer_id, now, survey.id)
    competing: list[DueSurvey] = []
    for row in due_rows:
        assert row.id is not None
        try:
            competing.append(DueSurvey(row.id, journey.stage(row.stage), row.due_at))
        except KeyError:
            continue
    return SurveyContext(
        survey=DueSurvey(survey.id, stage, survey.due_at), facts=facts, history=history, competing=competing
    )
