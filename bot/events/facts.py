"""Reading what ``flows.scheduling.decide`` needs about a customer from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from flows.journey import Journey, StageKind
from flows.scheduling import RELATIONSHIP_GAP, CustomerFacts, DueSurvey, SentSurvey
from storage.tables import Customer, DueWork, Escalation, SurveyInstance, Ticket


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
    customer = session.get(Customer, survey.customer_id)
    escalation = session.exec(
        select(Escalation.id).where(
            col(Escalation.customer_id) == survey.customer_id, col(Escalation.status).in_(("open", "taken"))
        )
    ).first()
    ticket = session.exec(
        select(Ticket.id).where(col(Ticket.customer_id) == survey.customer_id, col(Ticket.status) == "open")
    ).first()
    facts = CustomerFacts(
        timezone=customer.timezone if customer else "Europe/Rome",
        opted_out=bool(customer and customer.opted_out),
        consent=customer.consent if customer else None,
        open_escalation=escalation is not None,
        open_ticket=ticket is not None,
    )
    sent_rows = session.exec(
        select(SurveyInstance).where(
            col(SurveyInstance.customer_id) == survey.customer_id,
            col(SurveyInstance.sent_at).is_not(None),
            col(SurveyInstance.sent_at) > now - RELATIONSHIP_GAP,
            col(SurveyInstance.id) != survey.id,
        )
    ).all()
    history = [
        SentSurvey(stage=row.stage, metric=row.metric, kind=_kind(journey, row.stage), sent_at=row.sent_at)
        for row in sent_rows
        if row.sent_at is not None
    ]
    # Competitors: the customer's other surveys whose timer is due now and not yet asked.
    due_rows = session.exec(
        select(SurveyInstance)
        .join(DueWork, col(DueWork.survey_id) == col(SurveyInstance.id))
        .where(
            col(SurveyInstance.customer_id) == survey.customer_id,
            col(SurveyInstance.status) == "scheduled",
            col(SurveyInstance.id) != survey.id,
            col(DueWork.kind) == "survey_due",
            col(DueWork.status) == "pending",
            col(DueWork.due_at) <= now,
        )
    ).all()
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
