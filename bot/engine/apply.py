"""Persisting the engine's actions, inside the same transaction as the new conversation state.

One small function per action type (see ``APPLIERS``); the service calls them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    ReasonSkipped,
    RelayToAgent,
    ScheduleTimer,
    Send,
    SetLanguage,
    StoreClosingAnswer,
    StoreComment,
    StoreResponse,
    SurveyStatus,
)
from flows.conversation.handoff import MEDIA_MARK
from flows.escalation import ServiceLevels
from storage import escalations as escalation_store
from storage import repo
from storage.db import Session
from storage.tables import Customer, Escalation


@dataclass(frozen=True)
class Address:
    """Where a message goes: a channel and the address in it (chat id, sender id…)."""

    channel: str
    address: str


@dataclass
class ApplyContext:
    """What the appliers need besides the action."""

    session: Session
    customer: repo.CustomerView
    address: Address | None
    now: datetime
    levels: ServiceLevels  # when an opened or raised case is due
    escalations: list[Escalation] = field(default_factory=list)  # opened or updated in this step
    #: What the customer added to an already open case in this step, per escalation id:
    #: ("text", words) | ("human", "") | ("topics", "a,b") | ("priority", "p1"); the card hook
    #: pings the agent holding it.
    case_news: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    #: The customer's words for the agent holding their case, as (escalation id, text): the
    #: agents' desk (its after-apply hook) renders and queues them in this transaction.
    relays: list[tuple[int, str]] = field(default_factory=list)
    sent: int = 0
    #: The channel's id of the customer's message this step answers (from its envelope), e.g.
    #: for a copy of an attachment onto their case; None for timers and other callers.
    message_id: int | None = None
    #: Metric updates, made by the caller once the transaction is committed (a batch fed again
    #: after a failed item, or a rolled-back step, must not count twice).
    counts: list[Callable[[], None]] = field(default_factory=list)

    @property
    def channel(self) -> str:
        """Return the channel the customer is on in this step ("unknown" when none)."""
        return self.address.channel if self.address else "unknown"


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
    values: dict[str, Any] = {
        "survey_id": action.survey_id,
        "customer_id": ctx.customer.id,
        "stage": action.stage,
        "metric": action.metric.value,
        "score": action.score,
        "language": action.language.value,
        "channel": ctx.channel,
        "answered_at": action.answered_at,
    }
    if action.comment:
        values |= {
            "comment": action.comment,
            "commented_at": action.answered_at,
            "negative": action.negative,
            "topics": [t.value for t in action.topics],
        }
    repo.store_score(ctx.session, values)
    ctx.counts.append(metrics.ANSWERS.labels(action.stage, action.metric.value).inc)


def _store_comment(ctx: ApplyContext, action: StoreComment) -> None:
    topics = [t.value for t in action.topics]
    # A tapped reason chip is stored as the reason (its id; its topic counts), never as words the
    # customer typed: comment rate, quotes and text analytics read ``comment`` (CX_METHOD §7).
    typed = None if action.reason else action.comment
    earlier = repo.comment_target(ctx.session, action.survey_id)
    if earlier is None:
        order_id, metric = repo.survey_facts(ctx.session, action.survey_id)
        repo.insert_response(
            ctx.session,
            {
                "survey_id": action.survey_id,
                "customer_id": ctx.customer.id,
                "order_id": order_id,
                "stage": action.stage,
                "metric": metric,
                "language": action.language.value,
                "channel": ctx.channel,
                "answered_at": action.at,
                "comment": typed,
                "reason": action.reason,
                "negative": action.negative,
                "topics": sorted(set(topics)),
                "late": action.late,
                "commented_at": action.at if typed else None,
            },
        )
        return
    comment = earlier["comment"]
    if typed is not None and comment:
        typed = f"{comment}\n{typed}"
    values: dict[str, Any] = {
        "reason": action.reason or earlier["reason"],
        "negative": bool(earlier["negative"]) or action.negative,
        "topics": sorted({*(earlier["topics"] or []), *topics}),
        "late": bool(earlier["late"]) or action.late,
    }
    if typed is not None:
        values |= {"comment": typed, "commented_at": action.at}
    repo.update_response(ctx.session, earlier["id"], values)


def _mark_survey(ctx: ApplyContext, action: MarkSurvey) -> None:
    values: dict[str, Any]
    if action.reminded:
        values = {"reminded_at": action.at}
    else:
        values = {"status": action.status.value}
        if action.status is SurveyStatus.SENT:
            values |= {"sent_at": action.at, "channel": ctx.address.channel if ctx.address else None}
            values["language"] = ctx.customer.language
        if action.status in (SurveyStatus.ANSWERED, SurveyStatus.COMMENTED):
            values["answered_at"] = action.at
        if action.status in _CLOSED:
            values["closed_at"] = action.at
        if action.reason is not None:
            values["reason"] = action.reason
    counted = metrics.SURVEYS.labels("reminded" if action.reminded else action.status.value).inc

    def count(existed: bool) -> None:
        if existed:
            ctx.counts.append(counted)

    repo.set_survey(ctx.session, action.survey_id, values, count)


def _open_escalation(ctx: ApplyContext, action: OpenEscalation) -> None:
    """One case per customer and order while it is open: join it, or open it.

    Words without a survey (a complaint typed later, "talk to a person" from /help) join the
    customer's most recent open case; when there is none, the new case names the latest order
    and stage the customer was asked about.
    """
    stage = action.stage
    if action.survey_id is None:
        escalation = repo.latest_open_escalation(ctx.session, ctx.customer.id)
        order_id, latest_stage = (
            (None, None) if escalation else repo.latest_order_and_stage(ctx.session, ctx.customer.id)
        )
        stage = stage or latest_stage
    else:
        order_id, _ = repo.survey_facts(ctx.session, action.survey_id)
        escalation = repo.open_escalation(ctx.session, ctx.customer.id, order_id)
    news: list[tuple[str, str]] = []
    if escalation is None:
        escalation = Escalation(
            customer_id=ctx.customer.id,
            order_id=order_id,
            priority=action.priority.value,
            opened_at=action.at,
            sla_due_at=ctx.levels.due_at(action.at, action.priority),
            updated_at=action.at,
        )
    elif action.priority.value < escalation.priority:  # "p1" < "p2": raise the priority
        escalation.priority = action.priority.value
        escalation.sla_due_at = ctx.levels.raised_due_at(escalation.sla_due_at, action.at, action.priority)
        escalation.sla_warned_at = None  # the new deadline gets its own nudge
        news.append(("priority", action.priority.value))
    escalation.survey_id = action.survey_id or escalation.survey_id
    escalation.stage = escalation.stage or stage
    if action.score is not None:
        escalation.metric = action.metric.value if action.metric else escalation.metric
        escalation.score = action.score
    if action.text and action.text not in escalation.texts:
        escalation.texts = [*escalation.texts, action.text]
        news.append(("text", action.text))
    if action.media:  # each attachment is noted (the channel copies the file itself to the case)
        escalation.texts = [*escalation.texts, MEDIA_MARK + action.media]
        news.append(("media", action.media))
    added = sorted({t.value for t in action.topics} - set(escalation.topics))
    if added:
        escalation.topics = sorted({*escalation.topics, *added})
        news.append(("topics", ",".join(added)))
    if action.human and not escalation.human_requested:
        escalation.human_requested = True
        news.append(("human", ""))
    elif action.human:
        news.append(("human", ""))  # asked again: the holder is pinged again
    joined = escalation.id is not None
    escalation.updated_at = action.at
    escalation_store.save(ctx.session, escalation)
    assert escalation.id is not None
    if joined and news:
        ctx.case_news.setdefault(escalation.id, []).extend(news)
    if not joined or news:
        ctx.escalations.append(escalation)
    ctx.counts.append(metrics.ESCALATIONS_OPENED.labels(escalation.priority).inc)


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
    repo.update_customer(ctx.session, ctx.customer.id, ctx.now, opted_out=True, opted_out_at=action.at)
    ctx.customer.opted_out = True


def _opt_in(ctx: ApplyContext, action: MarkOptIn) -> None:
    repo.update_customer(ctx.session, ctx.customer.id, ctx.now, opted_out=False, opted_out_at=None)
    ctx.customer.opted_out = False


def _erase_customer(ctx: ApplyContext, action: EraseCustomer) -> None:
    # The conversation row stays: the service saves the engine's fresh state right after.
    customer = ctx.session.get(Customer, ctx.customer.id)
    if customer is not None:
        erase_personal_data(ctx.session, customer, action.at, keep_conversation=True)
        ctx.session.flush()
    ctx.customer.opted_out = True


def _set_language(ctx: ApplyContext, action: SetLanguage) -> None:
    repo.update_customer(ctx.session, ctx.customer.id, ctx.now, language=action.language.value)
    ctx.customer.language = action.language.value


def _relay_to_agent(ctx: ApplyContext, action: RelayToAgent) -> None:
    ctx.relays.append((action.escalation_id, action.text))


def _closing_answer(ctx: ApplyContext, action: StoreClosingAnswer) -> None:
    escalation = escalation_store.store_closing_answer(
        ctx.session, action.escalation_id, action.solved, action.at
    )
    if escalation is not None:
        ctx.escalations.append(escalation)  # its card changes (and "no" reopens it)


def _reason_skipped(ctx: ApplyContext, action: ReasonSkipped) -> None:
    """Nothing to store: the skip is the absence of a reason (channels acknowledge the press)."""


def _review_invited(ctx: ApplyContext, action: MarkReviewInvited) -> None:
    repo.update_customer(ctx.session, ctx.customer.id, ctx.now, review_invited_at=action.at)


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
    ReasonSkipped: _reason_skipped,
}


def apply_actions(ctx: ApplyContext, actions: list[Action]) -> None:
    """Persist ``actions`` in order inside ``ctx.session``."""
    for action in actions:
        APPLIERS[type(action)](ctx, action)
