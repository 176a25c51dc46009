"""The database tables. Durable truth lives here, never in the scheduler or in memory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, event
from sqlalchemy import false as sa_false
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class Customer(SQLModel, table=True):
    """A person who bought something. ``id`` is the shop's own customer id."""

    __tablename__ = "customers"

    id: str = Field(primary_key=True, max_length=128)
    name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="it", max_length=2)
    timezone: str = Field(default="Europe/Rome", max_length=64)
    consent: bool | None = None
    opted_out: bool = False
    opted_out_at: datetime | None = _ts()
    erased_at: datetime | None = _ts()
    review_invited_at: datetime | None = _ts()  # public-review invitations: once per period
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class ChannelIdentity(SQLModel, table=True):
    """Where a customer can be reached: a Telegram chat, a Rasa sender, a shell session."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=128)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=128)
    blocked_at: datetime | None = _ts()
    last_seen_at: datetime = _ts(nullable=False)
    created_at: datetime = _ts(nullable=False)


class BusinessEvent(SQLModel, table=True):
    """An event from the shop (order placed, delivered…); ``event_id`` makes it idempotent."""

    __tablename__ = "business_events"

    event_id: str = Field(primary_key=True, max_length=200)
    type: str = Field(max_length=64)
    occurred_at: datetime = _ts(nullable=False)
    received_at: datetime = _ts(nullable=False)
    customer_id: str = Field(index=True, max_length=128)
    order_id: str | None = Field(default=None, max_length=128)
    payload: dict[str, Any] = _json(dict)


class Order(SQLModel, table=True):
    """An order, as far as the journey needs it."""

    __tablename__ = "orders"

    id: str = Field(primary_key=True, max_length=128)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=128)
    items: list[Any] = _json(list)
    status: str = Field(default="placed", max_length=32)
    placed_at: datetime | None = _ts()
    delivered_at: datetime | None = _ts()
    updated_at: datetime = _ts(nullable=False)


class Ticket(SQLModel, table=True):
    """A support ticket; while one is open the customer gets no surveys."""

    __tablename__ = "tickets"

    id: str = Field(primary_key=True, max_length=128)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=128)
    order_id: str | None = Field(default=None, max_length=128)
    status: str = Field(default="open", max_length=16)
    opened_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()


class Conversation(SQLModel, table=True):
    """One customer's serialised conversation state; ``version`` counts changes."""

    __tablename__ = "conversations"

    customer_id: str = Field(primary_key=True, foreign_key="customers.id", max_length=128)
    state: dict[str, Any] = _json(dict)
    version: int = 0
    updated_at: datetime = _ts(nullable=False)


class SurveyInstance(SQLModel, table=True):
    """One question of one stage for one customer (and order or ticket)."""

    __tablename__ = "survey_instances"
    __table_args__ = (
        UniqueConstraint("event_id", "stage"),
        Index("ix_survey_customer_status", "customer_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str | None = Field(default=None, foreign_key="customers.id", max_length=128)
    order_id: str | None = Field(default=None, index=True, max_length=128)
    ticket_id: str | None = Field(default=None, max_length=128)
    event_id: str = Field(max_length=200)
    stage: str = Field(max_length=32)
    metric: str = Field(max_length=8)
    status: str = Field(default="scheduled", max_length=16)
    reason: str | None = Field(default=None, max_length=64)  # why it was postponed or skipped
    channel: str | None = Field(default=None, max_length=16)
    language: str | None = Field(default=None, max_length=2)
    placeholders: dict[str, Any] = _json(dict)
    reasks: int = 0
    due_at: datetime = _ts(nullable=False, index=True)
    sent_at: datetime | None = _ts(index=True)  # the weekly funnel filters on it
    delivered_at: datetime | None = _ts(index=True)
    reminded_at: datetime | None = _ts()
    answered_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)


class Response(SQLModel, table=True):
    """A stored answer: a score and/or the customer's words. Kept anonymous after ``forget``."""

    __tablename__ = "responses"
    __table_args__ = (Index("ix_responses_answered_stage", "answered_at", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int | None = Field(default=None, foreign_key="survey_instances.id", unique=True)
    customer_id: str | None = Field(default=None, index=True, max_length=128)
    order_id: str | None = Field(default=None, max_length=128)
    stage: str | None = Field(default=None, max_length=32)
    metric: str | None = Field(default=None, max_length=8)
    score: int | None = None
    comment: str | None = None
    reason: str | None = Field(default=None, max_length=16)
    negative: bool = False
    topics: list[str] = _json(list)
    language: str = Field(default="it", max_length=2)
    channel: str = Field(default="shell", max_length=16)
    late: bool = False
    answered_at: datetime = _ts(nullable=False)
    commented_at: datetime | None = _ts()


class Escalation(SQLModel, table=True):
    """A negative answer handed to human agents. One open per customer and order."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_customer_status", "customer_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str | None = Field(default=None, max_length=128)
    order_id: str | None = Field(default=None, max_length=128)
    survey_id: int | None = None
    stage: str | None = Field(default=None, max_length=32)
    priority: str = Field(max_length=4)
    status: str = Field(default="open", max_length=16, index=True)
    metric: str | None = Field(default=None, max_length=8)
    score: int | None = None
    texts: list[str] = _json(list)
    topics: list[str] = _json(list)
    opened_at: datetime = _ts(nullable=False, index=True)
    sla_due_at: datetime | None = _ts()
    taken_at: datetime | None = _ts()
    taken_by: str | None = Field(default=None, max_length=128)
    resolved_at: datetime | None = _ts()
    card_chat_id: str | None = Field(default=None, max_length=64)
    card_message_id: int | None = None
    thread_id: int | None = None
    closing_answer: str | None = Field(default=None, max_length=16)
    updated_at: datetime = _ts(nullable=False)
    card_version: int = 0  # bumped at each change of the agents' card (outbox dedupe key)
    resolved_by: str | None = Field(default=None, max_length=128)
    closing_answered_at: datetime | None = _ts()
    sla_warned_at: datetime | None = _ts()  # the one "nearly due" nudge was posted
    human_requested: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    overdue_hours: int | None = None  # whole hours past the SLA last shown on the card


class ClosingQuestion(SQLModel, table=True):
    """One "did we solve it?" asked when an escalation was resolved, and its answer.

    A row per resolution, never overwritten: a "no" reopens the case and the next resolution
    asks again in a new row, so every answer stays countable (CX_METHOD §7).
    """

    __tablename__ = "closing_questions"

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(index=True)
    asked_at: datetime = _ts(nullable=False, index=True)
    asked_by: str | None = Field(default=None, max_length=128)
    answer: str | None = Field(default=None, max_length=16)  # "yes" (solved) or "no"
    answered_at: datetime | None = _ts()


class OutboxMessage(SQLModel, table=True):
    """A message to deliver, written in the same transaction as the state that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "not_before"),
        # a chat's earlier pending message holds the later ones back (storage/claims.py)
        Index("ix_outbox_chat_status", "channel", "address", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str | None = Field(default=None, max_length=128)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=128)
    kind: str = Field(default="message", max_length=16)
    payload: dict[str, Any] = _json(dict)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    not_before: datetime = _ts(nullable=False)
    leased_until: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=64)
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    error: str | None = Field(default=None, max_length=500)
    #: A dead letter (status "failed"): why it was given up on (blocked, permanent, exhausted).
    dead_reason: str | None = Field(default=None, max_length=16)
    created_at: datetime = _ts(nullable=False)
    sent_at: datetime | None = _ts()


class InboxUpdate(SQLModel, table=True):
    """An inbound update written before it is acknowledged, so no answer is ever lost."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_inbox_pending", "processed_at", "chat_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    chat_key: str = Field(max_length=64)
    payload: dict[str, Any] = _json(dict)
    received_at: datetime = _ts(nullable=False)
    processed_at: datetime | None = _ts()
    leased_until: datetime | None = _ts()
    attempts: int = 0
    error: str | None = Field(default=None, max_length=500)


class DueWork(SQLModel, table=True):
    """A timer: a survey, reminder or expiry that becomes due at ``due_at``; claimed with a lease."""

    __tablename__ = "due_work"
    __table_args__ = (
        UniqueConstraint("kind", "survey_id"),
        Index("ix_due_work_pending", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    customer_id: str = Field(max_length=128, index=True)
    survey_id: int | None = None
    status: str = Field(default="pending", max_length=16)
    due_at: datetime = _ts(nullable=False)
    leased_until: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    done_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)


class JobRun(SQLModel, table=True):
    """Once-per-period jobs: the worker that inserts ``(job, period)`` first runs it."""

    __tablename__ = "job_runs"

    job: str = Field(primary_key=True, max_length=64)
    period: str = Field(primary_key=True, max_length=32)
    worker: str = Field(max_length=64)
    started_at: datetime = _ts(nullable=False)
    finished_at: datetime | None = _ts()
    detail: dict[str, Any] = _json(dict)


class LinkToken(SQLModel, table=True):
    """A deep-link start token: random, bound to one customer, usable until it expires."""

    __tablename__ = "link_tokens"

    token: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=128)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    used_at: datetime | None = _ts()
    used_by: str | None = Field(default=None, max_length=64)


class AgentActionRecord(SQLModel, table=True):
    """The audit of the agents' desk: who did what to which escalation, when (refusals included).

    Holds no customer data (a reply's words stay in the escalation, not here), so erasure
    leaves it whole: it is the record of the agents' own conduct.
    """

    __tablename__ = "agent_actions"

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(index=True)
    agent: str = Field(max_length=128)
    action: str = Field(max_length=16)  # take, reply, hand_back, resolve, refused
    at: datetime = _ts(nullable=False)


class LeaderLease(SQLModel, table=True):
    """Who does a one-per-deployment job (the Telegram poller of a bot) until ``expires_at``.

    The holder renews it well before it expires; when the holder dies, another worker takes the
    row over once it has expired (storage.leases).
    """

    __tablename__ = "leader_leases"

    name: str = Field(primary_key=True, max_length=128)
    holder: str = Field(max_length=128)
    acquired_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)


class SendBudget(SQLModel, table=True):
    """The outbound budget shared by every worker (``bot.delivery.rate_budget``): when the bot and each chat
    may next receive a message. Key ``*`` is the bot as a whole; any other key is a chat address.
    """

    __tablename__ = "send_budget"

    key: str = Field(primary_key=True, max_length=64)
    #: Earliest time (Unix seconds) of the next slot.
    next_at: float = 0.0
    #: The worker granted the latest slot (a different worker keeps a hand-over gap).
    owner: str = Field(default="", max_length=64)
    #: Group chats: the slots of the last minute (Telegram's 20 messages a minute per group).
    recent: list[float] = _json(list)


class ConnectorDelivery(SQLModel, table=True):
    """A webhook delivery from a shop, tracking service or helpdesk, stored raw before it is answered.

    ``(connector, delivery_id)`` makes a delivery idempotent; the raw body stays so a mapping fix
    can replay it (``cxbot connectors replay``). Rejected deliveries (bad signature) keep no body.
    """

    __tablename__ = "connector_deliveries"
    __table_args__ = (
        UniqueConstraint("connector", "delivery_id"),
        Index("ix_connector_deliveries_pending", "status", "received_at"),
        Index("ix_connector_deliveries_recent", "connector", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    connector: str = Field(max_length=32)
    delivery_id: str = Field(max_length=200)
    topic: str = Field(default="", max_length=100)
    status: str = Field(default="pending", max_length=16)  # pending|ok|ignored|unmapped|failed|rejected
    detail: str | None = Field(default=None, max_length=500)
    body: str = Field(default="", sa_type=Text)
    events: list[Any] = _json(list)  # the business event ids it led to
    duplicates: int = 0
    attempts: int = 0
    received_at: datetime = _ts(nullable=False)
    last_duplicate_at: datetime | None = _ts()
    leased_until: datetime | None = _ts()
    processed_at: datetime | None = _ts()


class CustomerContact(SQLModel, table=True):
    """An e-mail address or phone number a connector learnt for a customer (to match helpdesk
    contacts and tracking updates, and to send the deep link by e-mail)."""

    __tablename__ = "customer_contacts"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=128)
    kind: str = Field(max_length=8)  # email|phone
    value: str = Field(max_length=254)
    source: str = Field(max_length=32)
    created_at: datetime = _ts(nullable=False)


class ChatwootConversation(SQLModel, table=True):
    """The Chatwoot conversation an escalation opened (its later changes go there as notes)."""

    __tablename__ = "chatwoot_conversations"

    escalation_id: int = Field(primary_key=True)
    conversation_id: int
    contact_id: int | None = None
    created_at: datetime = _ts(nullable=False)


class ReportCache(SQLModel, table=True):
    """A closed week's answers, counted as the weekly report needs them (``storage.report_cache``).

    Per company time zone, ISO week and part (``scores``, ``segments``, ``topics``): one ``count``
    row per group (stage, metric, language, channel, score; or stage and topics) with how many
    answers, how many with typed words, how many negative; and one ``built`` row saying the part is
    whole. Aggregates only (no customer, order or words). Triggers on ``responses`` delete a week's
    rows when an answer in it is written, changed or removed, comparing with ``period_start`` and
    ``period_end`` (UTC).
    """

    __tablename__ = "report_cache"
    __table_args__ = (Index("ix_report_cache_period", "period_end", "period_start"),)

    timezone: str = Field(primary_key=True, max_length=64)
    week: str = Field(primary_key=True, max_length=8)  # "2026-W47"
    part: str = Field(primary_key=True, max_length=8)  # scores, segments, topics
    kind: str = Field(primary_key=True, max_length=8)  # "built" (one per part) or "count"
    stage: str = Field(primary_key=True, max_length=32)  # "" when the answer names none
    metric: str = Field(primary_key=True, max_length=8)  # "" when none or not counted by it
    language: str = Field(primary_key=True, max_length=2)  # "" when not split by it
    channel: str = Field(primary_key=True, max_length=16)  # "" when not split by it
    score: int = Field(primary_key=True)  # -1 when not counted by it
    topics: str = Field(primary_key=True, sa_type=Text)  # JSON list, sorted (repeats kept); "" elsewhere
    period_start: datetime = _ts(nullable=False)
    period_end: datetime = _ts(nullable=False)
    answers: int = 0
    commented: int = 0  # of those, with typed words (segments)
    negative: int = 0  # of those, negative by score band or words (topics)
    built_at: datetime = _ts(nullable=False)


@event.listens_for(SQLModel.metadata, "after_create")
def _report_cache_triggers(_metadata: Any, connection: Connection, **_kw: Any) -> None:
    """Give ``create_all`` (tests, benches) the triggers that keep ``report_cache`` in step (as 0015 does)."""
    from storage.report_cache_triggers import create_triggers

    create_triggers(connection)
