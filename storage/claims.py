"""Claiming work with a lease, safely across processes.

PostgreSQL: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``; SQLite: the
same statement inside ``BEGIN IMMEDIATE`` (one writer at a time, so nothing to skip).
Expired leases are taken over, so a crashed worker's work is never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from storage.db import Database
from storage.tables import DueWork, OutboxMessage


@dataclass(frozen=True)
class ClaimedWork:
    """A due timer claimed by this worker until ``leased_until``."""

    id: int
    kind: str
    customer_id: str
    survey_id: int | None
    attempts: int


def claim_due_work(
    db: Database, owner: str, now: datetime, *, limit: int = 100, lease: timedelta = timedelta(minutes=2)
) -> list[ClaimedWork]:
    """Return up to ``limit`` due timers, leased to ``owner`` (oldest first)."""
    statement = _due_work_statement()
    params = {"now": now, "lease_until": now + lease, "owner": owner, "limit": limit}
    with db.write() as session:
        rows = session.connection().execute(statement, params).all()
    claimed = [ClaimedWork(r.id, r.kind, r.customer_id, r.survey_id, r.attempts) for r in rows]
    return sorted(claimed, key=lambda w: w.id)


def _lease(table: Any, candidates: Any, *columns: str, owner: bool = True) -> Any:
    """Return the UPDATE that leases the ``candidates`` rows (to ``:owner`` when ``owner``) and
    returns id, ``columns``, attempts."""
    values = {"leased_until": bindparam("lease_until"), "attempts": table.c.attempts + 1}
    if owner:
        values["lease_owner"] = bindparam("owner")
    return (
        update(table)
        .where(table.c.id.in_(candidates.scalar_subquery()))
        .values(**values)
        .returning(table.c.id, *(table.c[name] for name in columns), table.c.attempts)
    )


def oldest_of_each_chat_claim(
    table: Any,
    chat: str,
    pending: Callable[[Any], Any],
    conditions: Sequence[Any],
    columns: Sequence[str],
    *,
    owner: bool = True,
) -> Any:
    """Return the UPDATE leasing up to ``:limit`` of ``table``'s rows, oldest first, that are
    ``pending`` (a condition on the table or an alias of it), meet ``conditions`` and are not
    leased past ``:now``: only the oldest pending row of each (channel, ``chat``), so one chat's
    rows are taken one at a time and in order, even by several workers. It returns id,
    ``columns`` and attempts; ``:lease_until`` (and ``:owner`` when ``owner``) are set.
    """
    now: Any = bindparam("now")
    older = table.alias("older")
    earlier_pending = (
        select(older.c.id)
        .where(
            older.c.channel == table.c.channel,
            older.c[chat] == table.c[chat],
            pending(older),
            older.c.id < table.c.id,
        )
        .exists()
    )
    candidates = (
        select(table.c.id)
        .where(
            and_(
                pending(table),
                *conditions,
                or_(table.c.leased_until.is_(None), table.c.leased_until < now),
                ~earlier_pending,
            )
        )
        .order_by(table.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    return _lease(table, candidates, *columns, owner=owner)


@cache
def _due_work_statement() -> Any:
    # Built once: constructing SQLAlchemy statements costs more than running them on SQLite.
    table = DueWork.__table__  # type: ignore[attr-defined]
    now: Any = bindparam("now")
    candidates = (
        select(table.c.id)
        .where(
            table.c.status == "pending",
            table.c.due_at <= now,
            or_(table.c.leased_until.is_(None), table.c.leased_until < now),
        )
        .order_by(table.c.due_at, table.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    return _lease(table, candidates, "kind", "customer_id", "survey_id")


@dataclass(frozen=True)
class ClaimedMessage:
    """An outbox message claimed for delivery."""

    id: int
    channel: str
    address: str
    kind: str
    payload: dict[str, object]
    attempts: int


def claim_outbox(
    db: Database,
    owner: str,
    now: datetime,
    *,
    channels: tuple[str, ...] | None = None,
    limit: int = 50,
    lease: timedelta = timedelta(seconds=60),
) -> list[ClaimedMessage]:
    """Return up to ``limit`` pending messages, leased to ``owner``.

    Only the oldest undelivered message of each chat is claimable, so messages of one chat
    are delivered in order even with several senders.
    """
    statement = _outbox_statement(channels)
    params = {"now": now, "lease_until": now + lease, "owner": owner, "limit": limit}
    with db.write() as session:
        rows = session.connection().execute(statement, params).all()
    claimed = [ClaimedMessage(r.id, r.channel, r.address, r.kind, dict(r.payload), r.attempts) for r in rows]
    return sorted(claimed, key=lambda m: m.id)


@cache
def _outbox_statement(channels: tuple[str, ...] | None) -> Any:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    conditions = [table.c.not_before <= bindparam("now")]
    if channels is not None:
        conditions.append(table.c.channel.in_(channels))
    return oldest_of_each_chat_claim(
        table,
        "address",
        lambda t: t.c.status == "pending",
        conditions,
        ("channel", "address", "kind", "payload"),
    )


def finish_messages(db: Database, message_ids: list[int], now: datetime) -> None:
    """Mark many delivered messages sent in one transaction."""
    if not message_ids:
        return
    with db.write() as session:
        _mark_sent(session, message_ids, now)


def _mark_sent(session: Session, message_ids: list[int], now: datetime) -> None:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table)
        .where(table.c.id.in_(message_ids))
        .values(status="sent", sent_at=now, leased_until=None, error=None)
    )


def take_for_inline_reply(
    session: Session, channel: str, address: str, now: datetime, *, also: int | None = None
) -> list[dict[str, Any]]:
    """Mark the chat's pending messages sent and return their payloads, oldest first, in the caller's
    transaction: a channel that answers inline (Rasa's action response) delivers them itself.

    Messages leased by a sender are left to it, except ``also`` (the one being answered now).
    """
    free = or_(col(OutboxMessage.leased_until).is_(None), col(OutboxMessage.leased_until) < now)
    if also is not None:
        free = or_(free, col(OutboxMessage.id) == also)
    rows = session.exec(
        sm_select(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.address) == address,
            col(OutboxMessage.status) == "pending",
            free,
        )
        .order_by(col(OutboxMessage.id))
    ).all()
    if rows:
        _mark_sent(session, [row.id for row in rows if row.id is not None], now)
    return [dict(row.payload) for row in rows]
