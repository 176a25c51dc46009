"""Exporting stored answers and escalations (``cxbot export``, ``cxbot escalations``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from bot.privacy.csv_safety import safe_row
from storage import customer_data
from storage.db import Database

ANSWER_FIELDS = (
    "customer_id",
    "order_id",
    "stage",
    "metric",
    "score",
    "comment",
    "reason",
    "negative",
    "topics",
    "language",
    "channel",
    "answered_at",
    "late",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def answer_rows(db: Database, customer_id: str | None = None, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Yield one dict per stored answer (oldest first), streaming in batches."""
    last_id = 0
    while True:
        rows = customer_data.answers_after(db, last_id, batch, customer_id)
        if not rows:
            return
        for row in rows:
            yield {
                "customer_id": row.customer_id,
                "order_id": row.order_id,
                "stage": row.stage,
                "metric": row.metric,
                "score": row.score,
                "comment": row.comment,
                "reason": row.reason,
                "negative": row.negative,
                "topics": list(row.topics),
                "language": row.language,
                "channel": row.channel,
                "answered_at": _iso(row.answered_at),
                "late": row.late,
            }
        last_id = rows[-1].id or last_id


def write_rows(
    rows: Iterator[dict[str, Any]], out: TextIO, fmt: str, fields: tuple[str, ...], *, delimiter: str = ","
) -> int:
    """Write rows as JSON lines or CSV (lists joined with ';', cells safe for spreadsheets); return
    how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore", delimiter=delimiter)
        writer.writeheader()
        for row in rows:
            writer.writerow(safe_row({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()}))
            count += 1
        return count
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def customer_record(db: Database, customer_id: str) -> dict[str, Any] | None:
    """Return everything stored about one customer (GDPR access request), or None if unknown."""
    record = customer_data.customer_rows(db, customer_id)
    if record is None:
        return None
    record["answers"] = list(answer_rows(db, customer_id))
    return record


def to_text(record: dict[str, Any]) -> str:
    """Return a customer record as pretty JSON."""
    buffer = io.StringIO()
    json.dump(record, buffer, ensure_ascii=False, indent=2)
    return buffer.getvalue()
