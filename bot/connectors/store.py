"""The stored deliveries: written raw before the sender gets its answer, then worked from the row.

Idempotent on ``(connector, delivery_id)``: a redelivery only bumps ``duplicates``. Rows are
claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so a worker that dies mid-way
leaves its rows to the next one and nothing is lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update

from storage import repo
from storage.db import Database
from storage.tables import ConnectorDelivery, OutboxMessage

_T: Any = ConnectorDelivery.__table__  # type: ignore[attr-defined]
KEEP_REJECTED = 50  # per connector: enough to diagnose, bounded against floods of bad signatures
LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Claimed:
    """A stored delivery leased to this worker."""

    id: int
    connector: str
    topic: str
    body: str
    attempts: int


def record(db: Database, connector: str, delivery_id: str, topic: str, body: bytes, now: datetime) -> bool:
    """Store a verified delivery raw; return False (and count it) when it was already stored."""
    values = {
        "connector": connector,
        "delivery_id": delivery_id[:200],
        "topic": topic[:100],
        "status": "pending",
        "body": body.decode("utf-8", errors="replace"),
        "events": [],
        "duplicates": 0,
        "attempts": 0,
        "received_at": now,
    }
    with db.write() as session:
        if repo.insert_or_ignore(session, ConnectorDelivery, values, ["connector", "delivery_id"]):
            return True
        session.connection().execute(
            update(_T)
            .where(_T.c.connector == connector, _T.c.delivery_id == values["delivery_id"])
            .values(duplicates=_T.c.duplicates + 1, last_duplicate_at=now)
        )
        return False


def record_rejected(db: Database, connector: str, reason: str, now: datetime) -> None:
    """Keep a trace of a rejected delivery (no body) for ``cxbot connectors``; prune old ones."""
    with db.write() as session:
        c = session.connection()
        c.execute(
            _T.insert().values(
                connector=connector,
                delivery_id=f"rejected:{uuid.uuid4().hex}",
                topic="",
                status="rejected",
                detail=reason[:500],
                body="",
                events=[],
                duplicates=0,
                attempts=0,
                received_at=now,
                processed_at=now,
            )
        )
        keep = (
            select(_T.c.id)
            .where(_T.c.connector == connector, _T.c.status == "rejected")
            .order_by(_T.c.id.desc())
            .limit(KEEP_REJECTED)
        )
        c.execute(
            delete(_T).where(
                _T.c.connector == connector, _T.c.status == "rejected", _T.c.id.not_in(keep.scalar_subquery())
            )
        )


def claim(db: Database, now: datetime, *, limit: int = 50, lease: timedelta = LEASE) -> list[Claimed]:
    """Lease up to ``limit`` pending deliveries (oldest first), including ones whose lease ran out."""
    candidates = (
        select(_T.c.id)
        .where(_T.c.status == "pending", or_(_T.c.leased_until.is_(None), _T.c.leased_until < now))
        .order_by(_T.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(_T)
        .where(_T.c.id.in_(candidates.scalar_subquery()))
        .values(leased_until=now + lease, attempts=_T.c.attempts + 1)
        .returning(_T.c.id, _T.c.connector, _T.c.topic, _T.c.body, _T.c.attempts)
    )
    with db.write() as session:
        rows = session.connection().execute(statement).all()
    return sorted((Claimed(r.id, r.connector, r.topic, r.body, r.attempts) for r in rows), key=lambda c: c.id)


def finish(
    db: Database,
    delivery: int,
    now: datetime,
    status: str,
    *,
    detail: str | None = None,
    events: list[str] | None = None,
) -> None:
    """Record a delivery's outcome; ``pending`` releases it for a later retry."""
    values: dict[str, Any] = {"status": status, "detail": (detail or "")[:500] or None, "leased_until": None}
    if events is not None:
        values["events"] = events
    if status != "pending":
        values["processed_at"] = now
    with db.write() as session:
        session.connection().execute(update(_T).where(_T.c.id == delivery).values(**values))


def replay(db: Database, *, delivery: int | None = None, status: str | None = None) -> int:
    """Put deliveries back to pending (one by id, or every one with ``status``); return how many.

    Deliveries whose body was erased (retention, a forgotten customer) stay as they are.
    """
    where = []
    if delivery is not None:
        where.append(_T.c.id == delivery)
    if status is not None:
        where.append(_T.c.status == status)
    if not where:
        return 0
    with db.write() as session:
        result = session.connection().execute(
            update(_T)
            .where(*where, _T.c.status != "rejected", _T.c.body != "")  # erased: nothing to map
            .values(status="pending", leased_until=None, attempts=0)
        )
        return int(result.rowcount or 0)


def recent(db: Database, connector: str, limit: int = 5) -> list[dict[str, Any]]:
    """Return the connector's last deliveries, newest first (no bodies)."""
    columns = (
        _T.c.id,
        _T.c.delivery_id,
        _T.c.topic,
        _T.c.status,
        _T.c.detail,
        _T.c.duplicates,
        _T.c.received_at,
        _T.c.events,
    )
    with db.read() as session:
        rows = session.connection().execute(
            select(*columns).where(_T.c.connector == connector).order_by(_T.c.id.desc()).limit(limit)
        )
        return [dict(r._mapping) for r in rows]


def counts(db: Database, connector: str) -> dict[str, int]:
    """Return the connector's deliveries by status, plus ``duplicate`` (redeliveries seen)."""
    with db.read() as session:
        c = session.connection()
        result = {
            status: int(n)
            for status, n in c.execute(
                select(_T.c.status, func.count()).where(_T.c.connector == connector).group_by(_T.c.status)
            )
        }
        duplicates = c.execute(select(func.sum(_T.c.duplicates)).where(_T.c.connector == connector)).scalar()
    result["duplicate"] = int(duplicates or 0)
    return result


def bodies_erased(db: Database, connector: str) -> int:
    """Return how many of the connector's deliveries had their raw body erased (retention, erasure)."""
    with db.read() as session:
        found = session.connection().execute(
            select(func.count()).where(
                _T.c.connector == connector, _T.c.body == "", _T.c.status != "rejected"
            )
        )
        return int(found.scalar() or 0)


def outbound(db: Database, channels: tuple[str, ...], limit: int = 5) -> dict[str, dict[str, Any]]:
    """Return, per outbound channel (Chatwoot notes, deep-link e-mails), its messages by status
    (``retrying``: pending after a failed attempt) and its last failures, newest first."""
    o: Any = OutboxMessage.__table__  # type: ignore[attr-defined]
    result: dict[str, dict[str, Any]] = {c: {"counts": {}, "failures": []} for c in channels}
    retrying = (o.c.status == "pending") & o.c.error.is_not(None)
    status = case((retrying, "retrying"), else_=o.c.status)
    with db.read() as session:
        c = session.connection()
        for channel, state, n in c.execute(
            select(o.c.channel, status, func.count())
            .where(o.c.channel.in_(channels))
            .group_by(o.c.channel, status)
        ):
            result[channel]["counts"][state] = int(n)
        for channel in channels:
            rows = c.execute(
                select(o.c.id, o.c.kind, o.c.status, o.c.attempts, o.c.error, o.c.created_at)
                .where(o.c.channel == channel, o.c.error.is_not(None), o.c.status != "sent")
                .order_by(o.c.id.desc())
                .limit(limit)
            )
            result[channel]["failures"] = [dict(r._mapping) for r in rows]
    return result
