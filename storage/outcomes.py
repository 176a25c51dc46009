"""Recording what became of delivered outbox messages, many at once in one transaction.

The sender collects the outcomes of the deliveries that finish while a write is under way and
records them together (group commit): on SQLite, one writer at a time, a transaction per message
would make the senders queue for the write lock against the inbox processor. Each statement is
built once and run with all its rows (executemany).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, update

from storage.db import Database
from storage.tables import ChannelIdentity, OutboxMessage, SurveyInstance

Status = Literal["sent", "retry", "failed", "blocked"]


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed outbox message, known at ``at``.

    * ``sent``: accepted by the channel; ``survey_id`` names the survey whose question it was
      (its ``delivered_at`` is set when still empty).
    * ``retry``: try again at ``retry_at``.
    * ``failed``: never again on its own: a dead letter, ``reason`` saying why (``permanent``,
      ``exhausted``), until someone puts it back (``storage.dead_letters.retry_dead_letters``).
    * ``blocked``: the recipient blocked us; this and every other pending message to
      ``channel``/``address`` become dead letters (reason ``blocked``), the channel identity is
      marked blocked.

    ``payload``, when given, replaces the stored payload (message ids, parts already sent).
    """

    message_id: int
    at: datetime
    status: Status
    payload: dict[str, object] | None = None
    error: str | None = None
    retry_at: datetime | None = None
    survey_id: int | None = None
    channel: str = ""
    address: str = ""
    #: A ``retry`` because of flood control (429): the wait is not an attempt (the claim that
    #: counted it is given back), so a long flood never turns a later short outage into failure.
    flood: bool = False
    #: Why a ``failed`` or ``blocked`` message is a dead letter (``outbox.dead_reason``).
    reason: str | None = None


def record_outcomes(db: Database, outcomes: Sequence[Outcome]) -> None:
    """Record ``outcomes`` in one write transaction (all or none).

    Raises:
        StorageError: when the database fails; nothing is recorded.
    """
    if not outcomes:
        return
    with db.write() as session:
        write_outcomes(session.connection(), outcomes)


def write_outcomes(conn: Connection, outcomes: Sequence[Outcome]) -> None:
    """Write ``outcomes`` on ``conn`` inside the caller's transaction."""
    by_status: dict[Status, list[Outcome]] = {"sent": [], "retry": [], "failed": [], "blocked": []}
    for outcome in outcomes:
        by_status[outcome.status].append(outcome)
    sent = by_status["sent"]
    plain = [{"o_id": o.message_id, "o_at": o.at} for o in sent if o.payload is None]
    changed = [
        {"o_id": o.message_id, "o_at": o.at, "o_payload": o.payload} for o in sent if o.payload is not None
    ]
    delivered = [{"s_id": o.survey_id, "s_at": o.at} for o in sent if o.survey_id is not None]
    unsent = by_status["retry"] + by_status["failed"]
    progress = [{"o_id": o.message_id, "o_payload": o.payload} for o in unsent if o.payload is not None]
    retries = by_status["retry"]
    retry = [
        {"o_id": o.message_id, "o_retry": o.retry_at, "o_error": _error(o)} for o in retries if not o.flood
    ]
    flood = [{"o_id": o.message_id, "o_retry": o.retry_at, "o_error": _error(o)} for o in retries if o.flood]
    failed = [
        {"o_id": o.message_id, "o_error": _error(o), "o_reason": o.reason or "permanent"}
        for o in by_status["failed"]
    ]
    blocked = by_status["blocked"]
    identities = [{"b_channel": o.channel, "b_address": o.address, "b_at": o.at} for o in blocked]
    chats = [{"b_channel": o.channel, "b_address": o.address, "o_error": _error(o)} for o in blocked]
    statements = _statements()
    for name, rows in (
        ("sent", plain),
        ("sent_payload", changed),
        ("delivered", delivered),
        ("payload", progress),
        ("retry", retry),
        ("flood", flood),
        ("failed", failed),
        ("block_identity", identities),
        ("block_chat", chats),
    ):
        if rows:
            conn.execute(statements[name], rows)


def _error(outcome: Outcome) -> str:
    return (outcome.error or "")[:500]


@cache
def _statements() -> dict[str, Any]:
    # Built once: constructing SQLAlchemy statements costs more than running them on SQLite.
    outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
    surveys = SurveyInstance.__table__  # type: ignore[attr-defined]
    identities = ChannelIdentity.__table__  # type: ignore[attr-defined]
    by_id = update(outbox).where(outbox.c.id == bindparam("o_id"))
    at = bindparam("o_at", type_=outbox.c.sent_at.type)
    payload = bindparam("o_payload", type_=outbox.c.payload.type)
    error = bindparam("o_error", type_=outbox.c.error.type)
    sent = {"status": "sent", "sent_at": at, "leased_until": None, "error": None}
    same_chat = (
        outbox.c.channel == bindparam("b_channel"),
        outbox.c.address == bindparam("b_address"),
    )
    return {
        "sent": by_id.values(**sent),
        "sent_payload": by_id.values(**sent, payload=payload),
        # The first question delivered to the chat counts as the invitation's delivery.
        "delivered": update(surveys)
        .where(surveys.c.id == bindparam("s_id"), surveys.c.delivered_at.is_(None))
        .values(delivered_at=bindparam("s_at", type_=surveys.c.delivered_at.type)),
        # A long text went out in parts: remember how many, so a retry never repeats one.
        "payload": by_id.values(payload=payload),
        "retry": by_id.values(
            not_before=bindparam("o_retry", type_=outbox.c.not_before.type), leased_until=None, error=error
        ),
        "flood": by_id.values(
            not_before=bindparam("o_retry", type_=outbox.c.not_before.type),
            leased_until=None,
            error=error,
            attempts=outbox.c.attempts - 1,
        ),
        "failed": by_id.values(
            status="failed", leased_until=None, error=error, dead_reason=bindparam("o_reason")
        ),
        "block_identity": update(identities)
        .where(
            identities.c.channel == bindparam("b_channel"),
            identities.c.address == bindparam("b_address"),
            identities.c.blocked_at.is_(None),
        )
        .values(blocked_at=bindparam("b_at", type_=identities.c.blocked_at.type)),
        # Stop writing to this chat: its other pending messages fail too (kept, not deleted).
        "block_chat": update(outbox)
        .where(*same_chat, outbox.c.status == "pending")
        .values(status="failed", leased_until=None, error=error, dead_reason="blocked"),
    }
