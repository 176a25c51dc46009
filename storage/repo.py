"""Repository functions: small, explicit reads and writes inside a caller's transaction.

The conversation's hot path (customer, conversation, identity, response, survey, outbox, timer)
runs Core statements built once and executed with parameters: building a statement costs more
than running it on SQLite, and the ORM's unit of work more still (bench/inbound.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage import deferred
from storage.tables import (
    ChannelIdentity,
    Conversation,
    Customer,
    DueWork,
    Escalation,
    Order,
    OutboxMessage,
    Response,
    SurveyInstance,
)

_CUSTOMERS: Any = Customer.__table__  # type: ignore[attr-defined]
_CONVERSATIONS: Any = Conversation.__table__  # type: ignore[attr-defined]
_IDENTITIES: Any = ChannelIdentity.__table__  # type: ignore[attr-defined]
_SURVEYS: Any = SurveyInstance.__table__  # type: ignore[attr-defined]
_RESPONSES: Any = Response.__table__  # type: ignore[attr-defined]
_OUTBOX: Any = OutboxMessage.__table__  # type: ignore[attr-defined]
_DUE_WORK: Any = DueWork.__table__  # type: ignore[attr-defined]


def _dialect_insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


@cache
def _insert_ignore_statement(dialect_insert: Any, table: Any, index: tuple[str, ...]) -> Any:
    # Columns come from the parameters at execution; RETURNING tells reliably whether a row went
    # in (rowcount is -1 with psycopg here).
    return (
        dialect_insert(table).on_conflict_do_nothing(index_elements=list(index)).returning(table.c[index[0]])
    )


def _insert_ignore(session: Session, table: Any, values: dict[str, Any], index: tuple[str, ...]) -> bool:
    statement = _insert_ignore_statement(_dialect_insert(session), table, index)
    return session.connection().execute(statement, values).first() is not None


def insert_or_ignore(session: Session, model: Any, values: dict[str, Any], index: list[str]) -> bool:
    """Insert a row unless it conflicts on the unique columns ``index``; return True when inserted."""
    return _insert_ignore(session, model.__table__, values, tuple(index))


@cache
def _update_by(table: Any, key: str) -> Any:
    # SET takes the columns of the parameters given at execution.
    return update(table).where(table.c[key] == bindparam("b_key"))


def _update(session: Session, table: Any, key: str, value: Any, values: dict[str, Any]) -> int:
    result = session.connection().execute(_update_by(table, key), {"b_key": value, **values})
    return int(result.rowcount or 0)


# ---------------------------------------------------------------------------------------------
# Customers


@dataclass
class CustomerView:
    """What a conversation step needs of its customer (read with one Core statement)."""

    id: str
    language: str
    opted_out: bool


def ensure_customer(session: Session, customer_id: str, now: datetime, **fields: Any) -> Customer:
    """Return the customer, creating it (or updating the given fields) as needed.

    Creation is ``INSERT … ON CONFLICT DO NOTHING``: two workers creating the same new customer
    at once both get the row (the loser waits for the winner's commit, then updates it).
    """
    customer = session.get(Customer, customer_id)
    if customer is None:
        given = {k: v for k, v in fields.items() if v is not None}  # None: the column's default
        new = Customer(id=customer_id, created_at=now, updated_at=now, **given)
        if _insert_ignore(session, _CUSTOMERS, new.model_dump(), ("id",)):
            inserted = session.get(Customer, customer_id)
            assert inserted is not None  # just inserted in this transaction
            return inserted
        customer = session.get(Customer, customer_id, populate_existing=True)
        if customer is None:  # pragma: no cover - only a concurrent erasure of the row gets here
            raise LookupError(customer_id)
    changed = {k: v for k, v in fields.items() if v is not None and getattr(customer, k) != v}
    for key, value in changed.items():
        setattr(customer, key, value)
    if changed:
        customer.updated_at = now
        session.add(customer)
    return customer


@cache
def _customer_select() -> Any:
    c = _CUSTOMERS.c
    return sa_select(c.id, c.language, c.opted_out).where(c.id == bindparam("b_id"))


def customer_view(
    session: Session, customer_id: str, now: datetime, *, language: str | None = None
) -> CustomerView:
    """Return the customer's language and opt-out, creating the customer (in ``language``) if missing."""
    params = {"b_id": customer_id}
    row = session.connection().execute(_customer_select(), params).first()
    if row is None:
        new = Customer(id=customer_id, created_at=now, updated_at=now)
        if language:
            new.language = language
        _insert_ignore(session, _CUSTOMERS, new.model_dump(), ("id",))
        row = session.connection().execute(_customer_select(), params).one()
    return CustomerView(id=row.id, language=row.language, opted_out=bool(row.opted_out))


def update_customer(session: Session, customer_id: str, now: datetime, **values: Any) -> None:
    """Set ``values`` on the customer (and ``updated_at``) inside the caller's transaction."""
    _update(session, _CUSTOMERS, "id", customer_id, {**values, "updated_at": now})


# ---------------------------------------------------------------------------------------------
# Conversations


@dataclass(frozen=True)
class ConversationRow:
    """A conversation row locked for the current transaction."""

    customer_id: str
    state: dict[str, Any]
    version: int


@cache
def _conversation_lock() -> Any:
    c = _CONVERSATIONS.c
    return (
        sa_select(c.customer_id, c.state, c.version)
        .where(c.customer_id == bindparam("b_id"))
        .with_for_update()
    )


def lock_conversation(session: Session, customer_id: str, now: datetime) -> ConversationRow:
    """Return the customer's conversation row, created if missing and locked for this transaction.

    On PostgreSQL the row is locked with ``SELECT … FOR UPDATE`` so updates of one customer are
    serialised across workers; SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
    """
    params = {"b_id": customer_id}
    row = session.connection().execute(_conversation_lock(), params).first()
    if row is None:
        values = {"customer_id": customer_id, "state": {}, "version": 0, "updated_at": now}
        _insert_ignore(session, _CONVERSATIONS, values, ("customer_id",))
        row = session.connection().execute(_conversation_lock(), params).one()
    return ConversationRow(customer_id=row.customer_id, state=dict(row.state or {}), version=int(row.version))


@cache
def _customer_and_conversation() -> Any:
    c, v = _CUSTOMERS.c, _CONVERSATIONS.c
    return (
        sa_select(c.language, c.opted_out, v.state, v.version)
        .select_from(_CONVERSATIONS.join(_CUSTOMERS, c.id == v.customer_id))
        .where(v.customer_id == bindparam("b_id"))
        .with_for_update(of=_CONVERSATIONS)
    )


def lock_customer_conversation(
    session: Session, customer_id: str, now: datetime
) -> tuple[CustomerView, ConversationRow]:
    """Return the customer and their locked conversation (see ``lock_conversation``), created if missing.

    One round trip when both exist, which is every message but a customer's first.
    """
    row = session.connection().execute(_customer_and_conversation(), {"b_id": customer_id}).first()
    if row is None:
        return customer_view(session, customer_id, now), lock_conversation(session, customer_id, now)
    customer = CustomerView(id=customer_id, language=row.language, opted_out=bool(row.opted_out))
    return customer, ConversationRow(customer_id, dict(row.state or {}), int(row.version))


@cache
def _customers_and_conversations() -> Any:
    c, v = _CUSTOMERS.c, _CONVERSATIONS.c
    return (
        sa_select(v.customer_id, c.language, c.opted_out, v.state, v.version)
        .select_from(_CONVERSATIONS.join(_CUSTOMERS, c.id == v.customer_id))
        .where(v.customer_id.in_(bindparam("b_ids", expanding=True)))
        .order_by(v.customer_id)  # the same lock order in every worker
        .with_for_update(of=_CONVERSATIONS)
    )


def lock_customers_conversations(
    session: Session, customer_ids: list[str]
) -> dict[str, tuple[CustomerView, ConversationRow]]:
    """Return the customers and their conversations, locked, for a batch: one statement for all
    (see ``lock_customer_conversation``). Customers without a conversation row are left out."""
    if not customer_ids:
        return {}
    rows = session.connection().execute(_customers_and_conversations(), {"b_ids": customer_ids})
    return {
        row.customer_id: (
            CustomerView(id=row.customer_id, language=row.language, opted_out=bool(row.opted_out)),
            ConversationRow(row.customer_id, dict(row.state or {}), int(row.version)),
        )
        for row in rows
    }


def save_conversation(
    session: Session, customer_id: str, state: dict[str, Any], version: int, now: datetime
) -> None:
    """Store the conversation's new ``state`` as ``version`` (the row is locked by ``lock_conversation``).

    Held back in a ``deferring`` batch (``storage.deferred``).
    """
    params = {"b_key": customer_id, "state": state, "version": version, "updated_at": now}
    deferred.execute(session, _update_by(_CONVERSATIONS, "customer_id"), params)


# ---------------------------------------------------------------------------------------------
# Channel identities


@dataclass(frozen=True)
class IdentityRow:
    """A channel identity: where a customer can be reached."""

    id: int
    customer_id: str
    channel: str
    address: str
    blocked_at: datetime | None
    last_seen_at: datetime


_SEEN_RESOLUTION = timedelta(minutes=10)


def bind_identity(
    session: Session,
    customer_id: str,
    channel: str,
    address: str,
    now: datetime,
    *,
    known: IdentityRow | None = None,
) -> None:
    """Bind the identity (channel, address) to ``customer_id``, unblocked and marked seen now.

    ``known`` is the identity as just read in this transaction, if the caller has it.
    """
    fresh = known is not None and (known.channel, known.address) == (channel, address)
    identity = known if fresh else find_identity(session, channel, address)
    if identity is None:
        values = {"customer_id": customer_id, "channel": channel, "address": address}
        if _insert_ignore(
            session, _IDENTITIES, {**values, "last_seen_at": now, "created_at": now}, ("channel", "address")
        ):
            return
        identity = find_identity(session, channel, address)  # created meanwhile by another worker
        if identity is None:  # pragma: no cover - only a concurrent erasure gets here
            return
    if (
        identity.customer_id == customer_id
        and identity.blocked_at is None
        and now - identity.last_seen_at < _SEEN_RESOLUTION
    ):
        return  # nothing worth a write
    _update(
        session,
        _IDENTITIES,
        "id",
        identity.id,
        {"customer_id": customer_id, "last_seen_at": now, "blocked_at": None},
    )


@cache
def _identity_select(by_customer: bool) -> Any:
    i = _IDENTITIES.c
    statement = sa_select(i.id, i.customer_id, i.channel, i.address, i.blocked_at, i.last_seen_at)
    if by_customer:
        return (
            statement.where(i.customer_id == bindparam("b_customer"), i.blocked_at.is_(None))
            .order_by(i.last_seen_at.desc(), i.id.desc())
            .limit(1)
        )
    return statement.where(i.channel == bindparam("b_channel"), i.address == bindparam("b_address"))


def set_identity_blocked(session: Session, channel: str, address: str, blocked_at: datetime | None) -> bool:
    """Mark (channel, address) blocked since ``blocked_at``, or reachable again (None).

    Returns True when such an identity exists.
    """
    i = _IDENTITIES
    result = session.connection().execute(
        update(i).where(i.c.channel == channel, i.c.address == address).values(blocked_at=blocked_at)
    )
    return bool(result.rowcount)


def find_identity(session: Session, channel: str, address: str) -> IdentityRow | None:
    """Return the identity for (channel, address), or None."""
    params = {"b_channel": channel, "b_address": address}
    row = session.connection().execute(_identity_select(False), params).first()
    return IdentityRow(*row) if row is not None else None


@cache
def _identities_select() -> Any:
    i = _IDENTITIES.c
    return sa_select(i.id, i.customer_id, i.channel, i.address, i.blocked_at, i.last_seen_at).where(
        i.channel == bindparam("b_channel"), i.address.in_(bindparam("b_addresses", expanding=True))
    )


def find_identities(session: Session, channel: str, addresses: list[str]) -> dict[str, IdentityRow]:
    """Return the identities of ``addresses`` on ``channel`` (one statement), by address."""
    if not addresses:
        return {}
    params = {"b_channel": channel, "b_addresses": addresses}
    rows = session.connection().execute(_identities_select(), params)
    return {row.address: IdentityRow(*row) for row in rows}


def reachable_identity(session: Session, customer_id: str) -> IdentityRow | None:
    """Return where to reach the customer: the most recently seen identity that is not blocked."""
    row = session.connection().execute(_identity_select(True), {"b_customer": customer_id}).first()
    return IdentityRow(*row) if row is not None else None


# ---------------------------------------------------------------------------------------------
# Outbox and timers


@cache
def _outbox_insert() -> Any:
    return insert(_OUTBOX)


def enqueue_message(
    session: Session,
    *,
    channel: str,
    address: str,
    payload: dict[str, Any],
    now: datetime,
    customer_id: str | None = None,
    kind: str = "message",
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
) -> None:
    """Add a message to the outbox (inside the caller's transaction; one without ``dedupe_key`` is
    held back in a ``deferring`` batch)."""
    values = {
        "customer_id": customer_id,
        "channel": channel,
        "address": address,
        "kind": kind,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "not_before": not_before or now,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    if dedupe_key is None:  # held back in a ``deferring`` batch (``storage.deferred``)
        deferred.execute(session, _outbox_insert(), values)
    else:
        _insert_ignore(session, _OUTBOX, values, ("dedupe_key",))


def customer_reach(session: Session, customer_id: str) -> str | None:
    """Return how far the customer is out of reach: "blocked" (every chat of theirs blocked the
    bot), "failed" (the last message to their chat could not be delivered) or None (reachable)."""
    identity = reachable_identity(session, customer_id)
    if identity is None:
        i = _IDENTITIES.c
        known = session.connection().execute(sa_select(i.id).where(i.customer_id == customer_id).limit(1))
        return "blocked" if known.first() is not None else None
    o = _OUTBOX.c
    last = session.connection().execute(
        sa_select(o.status)
        .where(
            o.channel == identity.channel,
            o.address == identity.address,
            o.status.in_(("sent", "failed")),
            o.kind.in_(("message", "copy")),
        )
        .order_by(o.id.desc())
        .limit(1)
    )
    return "failed" if last.scalar() == "failed" else None


def sent_messages(session: Session, channel: str, address: str, limit: int = 50) -> list[OutboxMessage]:
    """Return the latest messages (kind ``message``) sent to ``address`` on ``channel``, newest first."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(
                col(OutboxMessage.channel) == channel,
                col(OutboxMessage.address) == address,
                col(OutboxMessage.kind) == "message",
                col(OutboxMessage.status) == "sent",
            )
            .order_by(col(OutboxMessage.id).desc())
            .limit(limit)
        )
    )


def sent_message(session: Session, channel: str, address: str, message_id: int) -> OutboxMessage | None:
    """Return the sent message that became the channel's message ``message_id`` in this chat."""
    rows = sent_messages(session, channel, address)
    return next((row for row in rows if row.payload.get("message_id") == message_id), None)


@cache
def _move_timer() -> Any:
    w = _DUE_WORK.c
    return (
        update(_DUE_WORK)
        .where(
            w.kind == bindparam("b_kind"),
            w.survey_id == bindparam("b_survey"),
            w.status.in_(("pending", "waiting")),
        )
        .values(status="pending", leased_until=None)
    )


def schedule_work(
    session: Session, *, kind: str, customer_id: str, survey_id: int | None, due_at: datetime, now: datetime
) -> None:
    """Create the timer (kind, survey) due at ``due_at``, or move an existing pending one."""
    values = {
        "kind": kind,
        "customer_id": customer_id,
        "survey_id": survey_id,
        "status": "pending",
        "due_at": due_at,
        "attempts": 0,
        "created_at": now,
    }
    if not _insert_ignore(session, _DUE_WORK, values, ("kind", "survey_id")):
        session.connection().execute(_move_timer(), {"b_kind": kind, "b_survey": survey_id, "due_at": due_at})


def finish_work(session: Session, work_id: int, now: datetime, status: str = "done") -> None:
    """Mark a claimed timer done (or ``waiting`` for a channel)."""
    values: dict[str, Any] = {"status": status, "leased_until": None}
    if status == "done":
        values["done_at"] = now
    _update(session, _DUE_WORK, "id", work_id, values)


def release_waiting_work(session: Session, customer_id: str, now: datetime) -> int:
    """Make a customer's surveys that waited for a channel due now; return how many."""
    result = session.connection().execute(
        update(_DUE_WORK)
        .where(_DUE_WORK.c.customer_id == customer_id, _DUE_WORK.c.status == "waiting")
        .values(status="pending", due_at=now, leased_until=None)
    )
    return int(result.rowcount or 0)


def postpone_work(session: Session, work_id: int, until: datetime) -> None:
    """Move a claimed timer (by id) to ``until`` and release its lease, so any worker picks it up then."""
    _update(session, _DUE_WORK, "id", work_id, {"due_at": until, "status": "pending", "leased_until": None})


def first_waiting_survey(session: Session, customer_id: str) -> DueWork | None:
    """The customer's earliest survey timer waiting for a channel, or None."""
    return session.exec(
        select(DueWork)
        .where(
            col(DueWork.customer_id) == customer_id,
            col(DueWork.kind) == "survey_due",
            col(DueWork.status) == "waiting",
        )
        .order_by(col(DueWork.due_at), col(DueWork.id))
    ).first()


# ---------------------------------------------------------------------------------------------
# Surveys and responses


def update_survey(session: Session, survey_id: int, values: dict[str, Any]) -> bool:
    """Set ``values`` on the survey; return False when there is no such survey."""
    return _update(session, _SURVEYS, "id", survey_id, values) > 0


def set_survey(
    session: Session, survey_id: int, values: dict[str, Any], then: deferred.Then | None = None
) -> None:
    """Set ``values`` (plain values: the write may be repeated) on the survey; ``then`` is told
    whether the survey existed. Held back in a ``deferring`` batch (``storage.deferred``)."""
    deferred.execute(session, _update_by(_SURVEYS, "id"), {"b_key": survey_id, **values}, then)


@cache
def _survey_facts() -> Any:
    s = _SURVEYS.c
    return sa_select(s.order_id, s.metric).where(s.id == bindparam("b_id"))


def survey_facts(session: Session, survey_id: int | None) -> tuple[str | None, str | None]:
    """Return the survey's (order id, metric), or (None, None) when there is no such survey."""
    if survey_id is None:
        return None, None
    row = session.connection().execute(_survey_facts(), {"b_id": survey_id}).first()
    return (row.order_id, row.metric) if row is not None else (None, None)


@cache
def _score_upsert(dialect_insert: Any, keys: tuple[str, ...], keep: tuple[str, ...]) -> Any:
    order = sa_select(_SURVEYS.c.order_id).where(_SURVEYS.c.id == bindparam("v_survey_id")).scalar_subquery()
    statement = dialect_insert(_RESPONSES).values(
        **{key: bindparam(f"v_{key}") for key in keys}, order_id=order
    )
    changes = [key for key in keys if key not in ("survey_id", *keep)] + ["order_id"]
    return statement.on_conflict_do_update(
        index_elements=["survey_id"], set_={key: statement.excluded[key] for key in changes}
    )


def store_score(session: Session, values: dict[str, Any]) -> None:
    """Store the score of ``values["survey_id"]`` (a new response, or over an earlier one).

    The response's order comes from its survey. Comment columns are written only when given, so a
    comment stored earlier (a late one) keeps its topics. Held back in a ``deferring`` batch.
    """
    keep: tuple[str, ...] = () if "topics" in values else ("topics",)
    values = {"topics": [], **values}
    statement = _score_upsert(_dialect_insert(session), tuple(values), keep)
    deferred.execute(session, statement, {f"v_{key}": value for key, value in values.items()})


@cache
def _comment_target() -> Any:
    r = _RESPONSES.c
    return sa_select(r.id, r.comment, r.reason, r.negative, r.topics, r.late).where(
        r.survey_id == bindparam("b_id")
    )


def comment_target(session: Session, survey_id: int | None) -> dict[str, Any] | None:
    """Return the response a comment on ``survey_id`` adds to (its id and comment columns), or None."""
    if survey_id is None:
        return None
    row = session.connection().execute(_comment_target(), {"b_id": survey_id}).first()
    return dict(row._mapping) if row is not None else None


@cache
def _response_insert() -> Any:
    return insert(_RESPONSES)


def insert_response(session: Session, values: dict[str, Any]) -> None:
    """Insert a response row (a comment without a stored score)."""
    session.connection().execute(_response_insert(), values)


def update_response(session: Session, response_id: int, values: dict[str, Any]) -> None:
    """Update the response ``response_id`` with ``values``."""
    _update(session, _RESPONSES, "id", response_id, values)


# ---------------------------------------------------------------------------------------------
# Escalations


def open_escalation(session: Session, customer_id: str, order_id: str | None) -> Escalation | None:
    """Return the customer's open (not resolved) escalation for the order, or None."""
    statement = select(Escalation).where(
        col(Escalation.customer_id) == customer_id,
        col(Escalation.status).in_(("open", "taken")),
    )
    if order_id is None:
        statement = statement.where(col(Escalation.order_id).is_(None))
    else:
        statement = statement.where(col(Escalation.order_id) == order_id)
    return session.exec(statement.with_for_update()).first()


def latest_open_escalation(session: Session, customer_id: str) -> Escalation | None:
    """Return the customer's most recently opened unresolved escalation (any order), or None."""
    statement = (
        select(Escalation)
        .where(col(Escalation.customer_id) == customer_id, col(Escalation.status).in_(("open", "taken")))
        .order_by(col(Escalation.opened_at).desc(), col(Escalation.id).desc())
    )
    return session.exec(statement.with_for_update()).first()


def latest_order_and_stage(session: Session, customer_id: str) -> tuple[str | None, str | None]:
    """Return the order and stage of the customer's most recently asked survey naming an order
    (else the most recently updated order, stage unknown); (None, None) when there is none."""
    survey = session.exec(
        select(SurveyInstance)
        .where(
            col(SurveyInstance.customer_id) == customer_id,
            col(SurveyInstance.sent_at).is_not(None),
            col(SurveyInstance.order_id).is_not(None),
        )
        .order_by(col(SurveyInstance.sent_at).desc(), col(SurveyInstance.id).desc())
    ).first()
    if survey is not None:
        return survey.order_id, survey.stage
    order = session.exec(
        select(Order).where(col(Order.customer_id) == customer_id).order_by(col(Order.updated_at).desc())
    ).first()
    return (order.id, None) if order is not None else (None, None)
