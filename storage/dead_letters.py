"""Dead letters: outbox messages the sender gave up on (status ``failed``), kept with the reason.

Reasons (``outbox.dead_reason``): ``blocked`` (the recipient blocked the bot), ``permanent`` (the
channel refused for good: a bad request, a missing setting), ``exhausted`` (temporary failures
until the retry policy's attempts ran out), ``unknown`` (failed before reasons were kept).
They are counted for ``/metrics``, ``cxbot status`` and ``/readyz`` and can be put back in the
outbox once the cause is fixed (``cxbot outbox retry-dead``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, select, update

from storage.db import Database
from storage.tables import ChannelIdentity, OutboxMessage

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_IDENTITIES = ChannelIdentity.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DeadLetters:
    """The dead letters of one channel for one reason: how many, and when the oldest was queued."""

    channel: str
    reason: str
    count: int
    oldest: datetime


def dead_letters(db: Database) -> list[DeadLetters]:
    """Return the dead letters by channel and reason."""
    reason = func.coalesce(_OUTBOX.c.dead_reason, "unknown")
    statement = (
        select(_OUTBOX.c.channel, reason, func.count(), func.min(_OUTBOX.c.created_at))
        .where(_OUTBOX.c.status == "failed")
        .group_by(_OUTBOX.c.channel, reason)
        .order_by(_OUTBOX.c.channel, reason)
    )
    with db.read() as session:
        rows = session.connection().execute(statement).all()
    return [DeadLetters(channel, why, int(count), oldest) for channel, why, count, oldest in rows]


def retry_dead_letters(
    db: Database, now: datetime, *, channel: str | None = None, reason: str | None = None
) -> int:
    """Put dead letters back in the outbox, due ``now`` with their attempts from zero; return how many.

    Only those of ``channel`` and ``reason`` when given. A chat that is still blocked keeps its
    letters: they could only fail again.
    """
    blocked_chat = exists().where(
        _IDENTITIES.c.channel == _OUTBOX.c.channel,
        _IDENTITIES.c.address == _OUTBOX.c.address,
        _IDENTITIES.c.blocked_at.is_not(None),
    )
    conditions = [_OUTBOX.c.status == "failed", ~blocked_chat]
    if channel is not None:
        conditions.append(_OUTBOX.c.channel == channel)
    if reason is not None:
        conditions.append(func.coalesce(_OUTBOX.c.dead_reason, "unknown") == reason)
    statement = (
        update(_OUTBOX)
        .where(and_(*conditions))
        .values(status="pending", attempts=0, not_before=now, leased_until=None, dead_reason=None, error=None)
    )
    with db.write() as session:
        return int(session.connection().execute(statement).rowcount or 0)
