"""Raw rows for recomputing the weekly report elsewhere (``cxbot export --what …``).

Each kind is streamed as plain rows (timestamps ISO 8601 with their offset), the same facts the
report's queries read, with no figure computed: answers, surveys (with whether a survey's timer
waits for a chat and whether one of the customer's chats blocked the bot), escalations, every
closing question with its answer, and customers' opt-outs. No names, no chat addresses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from storage import report_export
from storage.db import Database

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


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _named(rows: Iterator[Sequence[Any]], fields: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield {name: _plain(value) for name, value in zip(fields, row, strict=True)}


def survey_rows(db: Database) -> Iterator[dict[str, Any]]:
    """Yield one row per survey instance."""
    yield from _named(report_export.surveys(db, SURVEY_FIELDS[:-2]), SURVEY_FIELDS)


def escalation_rows(db: Database) -> Iterator[dict[str, Any]]:
    """Yield one row per escalation (no texts: the agents' card has them)."""
    yield from _named(report_export.escalations(db, ESCALATION_FIELDS), ESCALATION_FIELDS)


def closing_rows(db: Database) -> Iterator[dict[str, Any]]:
    """Yield one row per closing question asked, with its answer (None when unanswered)."""
    yield from _named(report_export.closing_questions(db, CLOSING_FIELDS), CLOSING_FIELDS)


def customer_rows(db: Database) -> Iterator[dict[str, Any]]:
    """Yield each customer's id, language and opt-out (for the funnel's opt-outs)."""
    yield from _named(report_export.customers(db, CUSTOMER_FIELDS), CUSTOMER_FIELDS)


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
