"""What is waiting: timers, outbox messages, open escalations, connector deliveries
(``cxbot status`` and the ``/metrics`` gauges)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from storage.db import Database
from storage.tables import ConnectorDelivery, DueWork, Escalation, OutboxMessage, SurveyInstance

# SQLModel's metaclass does not declare __table__ (set when each class is made).
_DUE = DueWork.__table__  # type: ignore[attr-defined]
_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_ESCALATIONS = Escalation.__table__  # type: ignore[attr-defined]
_SURVEYS = SurveyInstance.__table__  # type: ignore[attr-defined]
_DELIVERIES = ConnectorDelivery.__table__  # type: ignore[attr-defined]


def waiting_timers(db: Database) -> list[tuple[str, str, int]]:
    """Return (kind, status, count) of the timers pending or waiting for a chat."""
    statement = (
        select(_DUE.c.kind, _DUE.c.status, func.count())
        .where(_DUE.c.status.in_(("pending", "waiting")))
        .group_by(_DUE.c.kind, _DUE.c.status)
    )
    with db.read() as session:
        return [(kind, status, int(n)) for kind, status, n in session.connection().execute(statement)]


def pending_outbox(db: Database) -> list[tuple[str, int]]:
    """Return (channel, count) of the messages waiting to be sent."""
    statement = (
        select(_OUTBOX.c.channel, func.count())
        .where(_OUTBOX.c.status == "pending")
        .group_by(_OUTBOX.c.channel)
    )
    with db.read() as session:
        return [(channel, int(n)) for channel, n in session.connection().execute(statement)]


def open_escalations(db: Database) -> list[tuple[str, int]]:
    """Return (priority, count) of the escalations open or taken."""
    statement = (
        select(_ESCALATIONS.c.priority, func.count())
        .where(_ESCALATIONS.c.status.in_(("open", "taken")))
        .group_by(_ESCALATIONS.c.priority)
    )
    with db.read() as session:
        return [(priority, int(n)) for priority, n in session.connection().execute(statement)]


def next_pending_timer(db: Database) -> datetime | None:
    """Return the earliest due time of the pending timers (None when none is pending)."""
    statement = select(func.min(_DUE.c.due_at)).where(_DUE.c.status == "pending")
    with db.read() as session:
        value = session.connection().execute(statement).scalar()
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def scheduled_surveys(db: Database) -> int:
    """Return how many surveys wait for their due time."""
    statement = select(func.count()).where(_SURVEYS.c.status == "scheduled")
    with db.read() as session:
        return int(session.connection().execute(statement).scalar() or 0)


def deliveries_needing_work(db: Database) -> list[tuple[str, str, int]]:
    """Return (connector, status, count) of the stored deliveries pending, unmapped or failed."""
    statement = (
        select(_DELIVERIES.c.connector, _DELIVERIES.c.status, func.count())
        .where(_DELIVERIES.c.status.in_(("pending", "unmapped", "failed")))
        .group_by(_DELIVERIES.c.connector, _DELIVERIES.c.status)
    )
    with db.read() as session:
        return [
            (connector, status, int(n)) for connector, status, n in session.connection().execute(statement)
        ]
