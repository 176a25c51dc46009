"""Raw rows for recomputing the weekly report elsewhere (``cxbot export --what …``).

Each kind is streamed as plain rows (timestamps ISO 8601 with their offset), the same facts the
report's queries read, with no figure computed: answers, surveys (with whether a survey's timer
waits for a chat and whether one of the customer's chats blocked the bot), escalations, every
closing question with its answer, and customers' opt-outs. No names, no chat addresses.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Table, select

from storage.db import Database
from storage.tables import ChannelIdentity, ClosingQuestion, Customer, DueWork, Escalation, SurveyInstance

What = Literal["answers", "surveys", "escalations", "closing", "customers"]
WHATS: tuple[What, ...] = ("answers", "surveys", "escalations", "closing", "customers")

SURVEY_FIELDS = (
    "id",
    "customer_id",
    "stage",
    "metric",
    "status",
    "reason",
    "channel",
    "language",
    "reasks",
    "due_at",
    "sent_at",
    "delivered_at",
    "answered_at",
    "waiting_for_channel",
    "customer_blocked",
)
ESCALATION_FIELDS = (
    "id",
    "customer_id",
    "stage",
    "metric",
    "score",
    "priority",
    "status",
    "opened_at",
    "sla_due_at",
    "taken_at",
    "resolved_at",
)
CLOSING_FIELDS = ("id", "escalation_id", "asked_at", "answer", "answered_at")
CUSTOMER_FIELDS = ("id", "language", "opted_out", "opted_out_at")

_SURVEYS: Table = SurveyInstance.__table__  # type: ignore[attr-defined]
_DUE_WORK: Table = DueWork.__table__  # type: ignore[attr-defined]
_IDENTITIES: Table = ChannelIdentity.__table__  # type: ignore[attr-defined]
_ESCALATIONS: Table = Escalation.__table__  # type: ignore[attr-defined]
_CLOSING: Table = ClosingQuestion.__table__  # type: ignore[attr-defined]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _rows(
    db: Database, statement: Any, fields: tuple[str, ...], batch: int = 5000
) -> Iterator[dict[str, Any]]:
    """Yield ``statement``'s rows (ordered by its first column, an id) in batches of ``batch``."""
    key = statement.selected_columns[0]
    last: Any = None
    while True:
        page = statement if last is None else statement.where(key > last)
        with db.read_engine.connect() as conn:
            rows = conn.execute(page.order_by(key).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield {name: _plain(value) for name, value in zip(fields, row, strict=True)}
        last = rows[-1][0]


def survey_rows(db: Database) -> Iterator[dict[str, Any]]:
    """Yield one row per survey instance."""
    s, w, i = _SURVEYS, _DUE_WORK, _IDENTITIES
    waiting = (
        select(w.c.id)
        .where(w.c.survey_id == s.c.id, w.c.kind == "survey_due", w.c.status == "waiting")
        .exists()
    )
    blocked = select(i.c.id).where(i.c.customer_id == s.c.customer_id, i.c.blocked_at.is_not(None)).exists()
    columns = [s.c[name] for name in SURVEY_FIELDS[:-2]]
    yield from _rows(db, select(*columns, waiting, blocked), SURVEY_FIELDS)


def escalation_rows(db: Database) -> Iterator[dict[str, Any]]:
    """Yield one row per escalation (no texts: the agents' card has them)."""
    e = _ESCALATIONS
    yield from _rows(db, select(*(e.c[name] for name in ESCALATION_FIELDS)), ESCALATION_FIELDS)


def closing_rows(db: Database) -> Iterator[dict[str, Any]]:
    """Yield one row per closing question asked, with its answer (None when unanswered)."""
    q = _CLOSING
    yield from _rows(db, select(*(q.c[name] for name in CLOSING_FIELDS)), CLOSING_FIELDS)


def customer_rows(db: Database) -> Iterator[dict[str, Any]]:
    """Yield each customer's id, language and opt-out (for the funnel's opt-outs)."""
    c = _CUSTOMERS
    yield from _rows(db, select(*(c.c[name] for name in CUSTOMER_FIELDS)), CUSTOMER_FIELDS)


def export_rows(db: Database, what: What) -> tuple[Iterator[dict[str, Any]], tuple[str, ...]]:
    """Return the rows of ``what`` and their field names (answers: see ``bot.privacy.export``)."""
    if what == "answers":
        from bot.privacy.export import ANSWER_FIELDS, answer_rows

        return answer_rows(db), ANSWER_FIELDS
    if what == "surveys":
        return survey_rows(db), SURVEY_FIELDS
    if what == "escalations":
        return escalation_rows(db), ESCALATION_FIELDS
    if what == "closing":
        return closing_rows(db), CLOSING_FIELDS
    if what == "customers":
        return customer_rows(db), CUSTOMER_FIELDS
    raise ValueError(f"unknown export {what!r}; use one of {', '.join(WHATS)}")
