"""The durable inbox of every channel: updates are stored before they are acknowledged, then
claimed with a lease.

Only the oldest unprocessed update of each chat is claimable, so one chat's updates are
processed one at a time and in order, even with several workers. A repeated ``update_id`` is
dropped by the unique (channel, external_id) constraint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage import deferred
from storage.claims import oldest_of_each_chat_claim
from storage.db import Database
from storage.tables import InboxUpdate

_TABLE: Any = InboxUpdate.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Incoming:
    """An update to store: its id, the chat it belongs to (ordering key) and its JSON.

    ``channel``, when set, is the channel that owns it (one bot's updates can belong to two
    channels: the customers' chats and the agents' group); else the one ``store`` is given.
    """

    external_id: str
    chat_key: str
    payload: dict[str, Any]
    channel: str | None = None


@dataclass(frozen=True)
class ClaimedUpdate:
    """An inbox row claimed for processing."""

    id: int
    external_id: str
    chat_key: str
    payload: dict[str, Any]
    attempts: int


def store(db: Database, channel: str, updates: Iterable[Incoming], now: datetime) -> int:
    """Write ``updates`` to the inbox in one transaction; return how many were new (not repeats).

    Raises:
        StorageError: when the database fails; then nothing is stored and nothing may be acknowledged.
    """
    rows = [
        {
            "channel": item.channel or channel,
            "external_id": item.external_id[:64],
            "chat_key": item.chat_key[:64],
            "payload": item.payload,
            "received_at": now,
            "attempts": 0,
        }
        for item in updates
    ]
    if not rows:
        return 0
    with db.write() as session:
        statement = _store_statement(session.get_bind().dialect.name)
        # One statement for the batch (SQLAlchemy sends it as multi-row INSERTs): one round trip
        # instead of one per update; a repeat returns no row.
        return len(session.connection().execute(statement, rows).all())


@cache
def _store_statement(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(_TABLE)
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(_TABLE.c.id)  # rowcount is -1 on PostgreSQL with psycopg
    )


def claim(
    db: Database, channel: str, now: datetime, *, limit: int = 50, lease: timedelta = timedelta(seconds=60)
) -> list[ClaimedUpdate]:
    """Return up to ``limit`` unprocessed updates (the oldest of each chat), leased until ``now + lease``."""
    params = {"b_channel": channel, "now": now, "lease_until": now + lease, "limit": limit}
    with db.write() as session:
        rows = session.connection().execute(_claim_statement(), params).all()
    claimed = [ClaimedUpdate(r.id, r.external_id, r.chat_key, dict(r.payload), r.attempts) for r in rows]
    return sorted(claimed, key=lambda u: u.id)


@cache
def _claim_statement() -> Any:
    return oldest_of_each_chat_claim(
        _TABLE,
        "chat_key",
        lambda t: t.c.processed_at.is_(None),
        [_TABLE.c.channel == bindparam("b_channel")],
        ("external_id", "chat_key", "payload"),
        owner=False,
    )


def mark_processed(session: Session, update_id: int, now: datetime, error: str | None = None) -> None:
    """Mark an inbox row done inside the caller's transaction (the one that fed the service);
    held back in a ``deferring`` batch (``storage.deferred``)."""
    values = {
        "b_id": update_id,
        "processed_at": now,
        "leased_until": None,
        "error": error[:500] if error else None,
    }
    deferred.execute(session, _mark_statement(), values)


@cache
def _mark_statement() -> Any:
    # SET takes the columns of the parameters; built once (building costs more than running).
    return update(_TABLE).where(_TABLE.c.id == bindparam("b_id"))


def release(db: Database, update_id: int, error: str, retry_at: datetime) -> None:
    """Record a failed attempt; the row is claimable again at ``retry_at``."""
    with db.write() as session:
        session.connection().execute(
            update(_TABLE).where(_TABLE.c.id == update_id).values(leased_until=retry_at, error=error[:500])
        )
