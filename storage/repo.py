"""Repository functions: small, explicit reads and writes inside a caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.tables import (
    ChannelIdentity,
    Conversation,
    Customer,
    DueWork,
    Escalation,
    OutboxMessage,
    Response,
    SurveyInstance,
)


def _insert_ignore(session: Session, model: Any, values: dict[str, Any], index: list[str]) -> bool:
    """Insert a row unless it conflicts on ``index``; return True when it was inserted."""
    table = model.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=index)
    elif dialect == "sqlite":
        statement = sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=index)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        statement = insert(table).values(**values)
    # RETURNING tells reliably whether a row went in (rowcount is -1 with psycopg here).
    returned = session.connection().execute(statement.returning(table.c[index[0]])).first()
    return returned is not None


def insert_or_ignore(session: Session, model: Any, values: dict[str, Any], index: list[str]) -> bool:
    """Insert a row unless it conflicts on the unique columns ``index``; return True when inserted."""
    return _insert_ignore(session, model, values, index)


def ensure_customer(session: Session, customer_id: str, now: datetime, **fields: Any) -> Customer:
    """Return the customer, creating it (or updating the given fields) as needed."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        customer = Customer(id=customer_id, created_at=now, updated_at=now, **fields)
        session.add(customer)
        session.flush()
        return customer
    changed = {k: v for k, v in fields.items() if v is not None and getattr(customer, k) != v}
    for key, value in changed.items():
        setattr(customer, key, value)
    if changed:
        customer.updated_at = now
        session.add(customer)
    return customer


def lock_conversation(session: Session, customer_id: str, now: datetime) -> Conversation:
    """Return the customer's conversation row, created if missing and locked for this transaction.

    On PostgreSQL the row is locked with ``SELECT … FOR UPDATE`` so updates of one customer are
    serialised across workers; SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
    """
    statement = select(Conversation).where(col(Conversation.customer_id) == customer_id).with_for_update()
    conversation = session.exec(statement).first()
    if conversation is not None:
        return conversation
    _insert_ignore(
        session,
        Conversation,
        {"customer_id": customer_id, "state": {}, "version": 0, "updated_at": now},
        ["customer_id"],
    )
    return session.exec(statement).one()


_SEEN_RESOLUTION = timedelta(minutes=10)


def bind_identity(
    session: Session, customer_id: str, channel: str, address: str, now: datetime
) -> ChannelIdentity:
    """Return the identity (channel, address), bound to ``customer_id`` and marked seen now."""
    identity = find_identity(session, channel, address)
    if (
        identity is not None
        and identity.customer_id == customer_id
        and identity.blocked_at is None
        and now - identity.last_seen_at < _SEEN_RESOLUTION
    ):
        return identity  # nothing worth a write
    if identity is None:
        identity = ChannelIdentity(
            customer_id=customer_id, channel=channel, address=address, last_seen_at=now, created_at=now
        )
    else:
        identity.customer_id = customer_id
        identity.last_seen_at = now
        identity.blocked_at = None
    session.add(identity)
    session.flush()
    return identity


def find_identity(session: Session, channel: str, address: str) -> ChannelIdentity | None:
    """Return the identity for (channel, address), or None."""
    return session.exec(
        select(ChannelIdentity).where(
            col(ChannelIdentity.channel) == channel, col(ChannelIdentity.address) == address
        )
    ).first()


def reachable_identity(session: Session, customer_id: str) -> ChannelIdentity | None:
    """Return where to reach the customer: the most recently seen identity that is not blocked."""
    return session.exec(
        select(ChannelIdentity)
        .where(col(ChannelIdentity.customer_id) == customer_id, col(ChannelIdentity.blocked_at).is_(None))
        .order_by(col(ChannelIdentity.last_seen_at).desc(), col(ChannelIdentity.id).desc())
    ).first()


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
    """Add a message to the outbox (inside the caller's transaction)."""
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
    if dedupe_key is None:
        session.connection().execute(insert(OutboxMessage.__table__).values(**values))  # type: ignore[attr-defined]
    else:
        _insert_ignore(session, OutboxMessage, values, ["dedupe_key"])


def schedule_work(
    session: Session, *, kind: str, customer_id: str, survey_id: int | None, due_at: datetime, now: datetime
) -> None:
    """Create the timer (kind, survey) due at ``due_at``, or move an existing pending one."""
    inserted = _insert_ignore(
        session,
        DueWork,
        {
            "kind": kind,
            "customer_id": customer_id,
            "survey_id": survey_id,
            "status": "pending",
            "due_at": due_at,
            "attempts": 0,
            "created_at": now,
        },
        ["kind", "survey_id"],
    )
    if not inserted:
        session.connection().execute(
            update(DueWork.__table__)  # type: ignore[attr-defined]
            .where(
                DueWork.__table__.c.kind == kind,  # type: ignore[attr-defined]
                DueWork.__table__.c.survey_id == survey_id,  # type: ignore[attr-defined]
                DueWork.__table__.c.status.in_(("pending", "waiting")),  # type: ignore[attr-defined]
            )
            .values(due_at=due_at, status="pending", leased_until=None)
        )


def finish_work(session: Session, work_id: int, now: datetime, status: str = "done") -> None:
    """Mark a claimed timer done (or ``waiting`` for a channel)."""
    table = DueWork.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"status": status, "leased_until": None}
    if status == "done":
        values["done_at"] = now
    session.connection().execute(update(table).where(table.c.id == work_id).values(**values))


def release_waiting_work(session: Session, customer_id: str, now: datetime) -> int:
    """Make a customer's surveys that waited for a channel due now; return how many."""
    table = DueWork.__table__  # type: ignore[attr-defined]
    result = session.connection().execute(
        update(table)
        .where(table.c.customer_id == customer_id, table.c.status == "waiting")
        .values(status="pending", due_at=now, leased_until=None)
    )
    return int(result.rowcount or 0)


def survey(session: Session, survey_id: int) -> SurveyInstance | None:
    """Return the survey instance, or None."""
    return session.get(SurveyInstance, survey_id)


def response_for(session: Session, survey_id: int) -> Response | None:
    """Return the response stored for a survey, or None."""
    return session.exec(select(Response).where(col(Response.survey_id) == survey_id)).first()


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


def sla_due(opened_at: datetime, priority: str) -> datetime:
    """Return when an escalation of ``priority`` must be resolved (P1: 4 h, P2: 48 h)."""
    return opened_at + (timedelta(hours=4) if priority == "p1" else timedelta(hours=48))
