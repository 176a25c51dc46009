"""Persisting the engine's actions, inside the same transaction as the new conversation state.

One small function per action type (see ``APPLIERS``); the service calls them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.escalations import records as desk_records
from bot.observability import metrics
from bot.privacy.erase import erase_personal_data
from flows.conversation import (
    Action,
    EraseCustomer,
    MarkOptIn,
    MarkOptOut,
    MarkReviewInvited,
    MarkSurvey,
    OpenEscalation,
    RelayToAgent,
    ScheduleTimer,
    Send,
    SetLanguage,
    StoreClosingAnswer,
    StoreComment,
    StoreResponse,
    SurveyStatus,
)
from storage import repo
from storage.tables import Customer, Escalation, Response


@dataclass(frozen=True)
class Address:
    """Where a message goes: a channel and the address in it (chat id, sender id…)."""

    channel: str
    address: str


@dataclass
class ApplyContext:
    """What the appliers need besides the action."""

    session: Session
    customer: Customer
    address: Address | None
    now: datetime
    escalations: list[Escalation] = field(default_factory=list)  # opened or updated in this step
    sent: int = 0


_CLOSED = {
    SurveyStatus.ANSWERED,
    SurveyStatus.COMMENTED,
    SurveyStatus.REFUSED,
    SurveyStatus.EXPIRED,
    SurveyStatus.SKIPPED,
    SurveyStatus.CANCELLED,
}


def _send(ctx: ApplyContext, action: Send) -> None:
    if ctx.address is None:
        return  # nowhere to deliver (no channel yet); the state still advances
    payload: dict[str, Any] = {
        "text": action.text,
        "rows": [[{"label": c.label, "value": c.value} for c in row] for row in action.rows],
        "survey_id": action.survey_id,
        "language": ctx.customer.language,
    }
    repo.enqueue_message(
        ctx.session,
        channel=ctx.address.channel,
        address=ctx.address.address,
        payload=payload,
        now=ctx.now,
        customer_id=ctx.customer.id,
    )
    ctx.sent += 1


def _store_response(ctx: ApplyContext, action: StoreResponse) -> None:
    survey = repo.survey(ctx.session, action.survey_id)
    response = repo.response_for(ctx.session, action.survey_id) or Response(
        survey_id=action.survey_id, answered_at=action.answered_at
    )
    response.customer_id = ctx.customer.id
    response.order_id = survey.order_id if survey else None
    response.stage = action.stage
    response.metric = action.metric.value
    response.score = action.score
    response.language = action.language.value
    response.channel = ctx.address.channel if ctx.address else "unknown"
    response.answered_at = action.answered_at
    if action.comment:
        response.comment = action.comment
        response.commented_at = action.answered_at
        response.negative = action.negative
        response.topics = [t.value for t in action.topics]
    ctx.session.add(response)
    ctx.session.flush()
    metrics.ANSWERS.labels(action.stage, action.metric.value).inc()


def _store_comment(ctx: ApplyContext, action: StoreComment) -> None:
    response = repo.response_for(ctx.session, action.survey_id) if action.survey_id is not None else None
    if response is None:
        survey = repo.survey(ctx.session, action.survey_id) if action.survey_id is not None else None
        response = Response(
            survey_id=action.survey_id,
            customer_id=ctx.customer.id,
            order_id=survey.order_id if survey else None,
            stage=action.stage,
            metric=survey.metric if survey else None,
            language=action.language.value,
            channel=ctx.address.channel if ctx.address else "unknown",
            answered_at=action.at,
        )
    response.comment = action.comment if not response.comment else f"{response.comment}\n{action.comment}"
    response.reason = action.reason or response.reason
    response.negative = response.negative or action.negative
    response.topics = sorted({*response.topics, *(t.value for t in action.topics)})
    response.late = response.late or action.late
    response.commented_at = action.at
    ctx.session.add(response)
    ctx.session.flush()


def _mark_survey(ctx: ApplyContext, action: MarkSurvey) -> None:
    survey = repo.survey(ctx.session, action.survey_id)
    if survey is None:
        return
    metrics.SURVEYS.labels("reminded" if action.reminded else action.status.value).inc()
    if action.reminded:
        survey.reminded_at = action.at
    else:
        survey.status = action.status.value
        if action.status is SurveyStatus.SENT:
            survey.sent_at = action.at
            survey.channel = ctx.address.channel if ctx.address else None
            survey.language = ctx.customer.language
        if action.status in (SurveyStatus.ANSWERED, SurveyStatus.COMMENTED):
            survey.answered_at = action.at
        if action.status in _CLOSED:
            survey.closed_at = action.at
    ctx.session.add(survey)


def _open_escalation(ctx: ApplyContext, action: OpenEscalation) -> None:
    survey = repo.survey(ctx.session, action.survey_id) if action.survey_id is not None else None
    order_id = survey.order_id if survey else None
    escalation = repo.open_escalation(ctx.session, ctx.customer.id, order_id)
    if escalation is None:
        escalation = Escalation(
            customer_id=ctx.customer.id,
            order_id=order_id,
            priority=action.priority.value,
            opened_at=action.at,
            sla_due_at=repo.sla_due(action.at, action.priority.value),
            updated_at=action.at,
        )
    elif action.priority.value < escalation.priority:  # "p1" < "p2": raise the priority
        escalation.priority = action.priority.value
        escalation.sla_due_at = min(
            escalation.sla_due_at or action.at, repo.sla_due(escalation.opened_at, action.priority.value)
        )
    escalation.survey_id = action.survey_id or escalation.survey_id
    escalation.stage = action.stage or escalation.stage
    if action.score is not None:
        escalation.metric = action.metric.value if action.metric else escalation.metric
        escalation.score = action.score
    if action.text and action.text not in escalation.texts:
        escalation.texts = [*escalation.texts, action.text]
    escalation.topics = sorted({*escalation.topics, *(t.value for t in action.topics)})
    escalation.updated_at = action.at
    ctx.session.add(escalation)
    ctx.session.flush()
    ctx.escalations.append(escalation)
    metrics.ESCALATIONS_OPENED.labels(escalation.priority).inc()


def _schedule_timer(ctx: ApplyContext, action: ScheduleTimer) -> None:
    repo.schedule_work(
        ctx.session,
        kind=action.timer.value,
        customer_id=ctx.customer.id,
        survey_id=action.survey_id,
        due_at=action.at,
        now=ctx.now,
    )


def _opt_out(ctx: ApplyContext, action: MarkOptOut) -> None:
    ctx.customer.opted_out = True
    ctx.customer.opted_out_at = action.at
    ctx.session.add(ctx.customer)


def _opt_in(ctx: ApplyContext, action: MarkOptIn) -> None:
    ctx.customer.opted_out = False
    ctx.customer.opted_out_at = None
    ctx.session.add(ctx.customer)


def _erase_customer(ctx: ApplyContext, action: EraseCustomer) -> None:
    # The conversation row stays: the service saves the engine's fresh state right after.
    erase_personal_data(ctx.session, ctx.customer, action.at, keep_conversation=True)


def _set_language(ctx: ApplyContext, action: SetLanguage) -> None:
    ctx.customer.language = action.language.value
    ctx.session.add(ctx.customer)


def _relay_to_agent(ctx: ApplyContext, action: RelayToAgent) -> None:
    desk_records.relay_to_agent(ctx.session, action.escalation_id, action.text, action.at)


def _closing_answer(ctx: ApplyContext, action: StoreClosingAnswer) -> None:
    escalation = desk_records.store_closing_answer(
        ctx.session, action.escalation_id, action.solved, action.at
    )
    if escalation is not None:
        ctx.escalations.append(escalation)  # its card changes (and "no" reopens it)


def _review_invited(ctx: ApplyContext, action: MarkReviewInvited) -> None:
    ctx.customer.review_invited_at = action.at
    ctx.session.add(ctx.customer)


APPLIERS: dict[type, Callable[[ApplyContext, Any], None]] = {
    Send: _send,
    StoreResponse: _store_response,
    StoreComment: _store_comment,
    MarkSurvey: _mark_survey,
    OpenEscalation: _open_escalation,
    ScheduleTimer: _schedule_timer,
    MarkOptOut: _opt_out,
    MarkOptIn: _opt_in,
    SetLanguage: _set_language,
    EraseCustomer: _erase_customer,
    RelayToAgent: _relay_to_agent,
    StoreClosingAnswer: _closing_answer,
    MarkReviewInvited: _review_invited,
}


def apply_actions(ctx: ApplyContext, actions: list[Action]) -> None:
    """Persist ``actions`` in order inside ``ctx.session``."""
    for action in actions:
        APPLIERS[type(action)](ctx, action)
