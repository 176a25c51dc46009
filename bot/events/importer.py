"""Importing business events from a JSONL or CSV file, one transaction per line.

CSV columns (header row required; empty cells are omitted):
``event_id,type,occurred_at,customer_id,customer_name,language,timezone,telegram_chat_id,
order_id,items,ticket_id,consent`` — ``items`` are product names separated by ``|``;
``consent`` is true/false (also yes/no, si/no, 1/0).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.events.ingest import ingest_event
from bot.events.validation import validate_event
from flows.errors import ConflictError, InputError
from flows.journey import Journey
from flows.scheduling import QuietHours
from storage.db import Database

CSV_COLUMNS = (
    "event_id",
    "type",
    "occurred_at",
    "customer_id",
    "customer_name",
    "language",
    "timezone",
    "telegram_chat_id",
    "order_id",
    "items",
    "ticket_id",
    "consent",
)
MAX_LINE_CHARS = 64 * 1024
_CSV_FIELD = {
    "customer": "customer_id",
    "customer.id": "customer_id",
    "customer.name": "customer_name",
    "customer.language": "language",
    "customer.timezone": "timezone",
    "customer.telegram_chat_id": "telegram_chat_id",
    "customer.consent": "consent",
    "order": "order_id",
    "order.id": "order_id",
    "ticket": "ticket_id",
    "ticket.id": "ticket_id",
}
_TRUE = {"true", "yes", "si", "sì", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


@dataclass(frozen=True)
class LineError:
    """A line that was not imported: its number, the field and why."""

    line: int
    field: str
    message: str


@dataclass
class ImportTally:
    """What an import did."""

    accepted: int = 0
    duplicate: int = 0
    invalid: int = 0
    errors: list[LineError] = field(default_factory=list)
    scheduled: int = 0  # surveys planned and still in time
    expired: int = 0  # surveys whose deadline had passed: recorded, never sent


def detect_format(path: Path, choice: str = "auto") -> str:
    """Return ``jsonl`` or ``csv``: ``choice`` unless auto, else from the file name (default jsonl).

    Raises:
        InputError: when ``choice`` is neither auto, jsonl nor csv.
    """
    if choice not in ("auto", "jsonl", "csv"):
        raise InputError(f"unknown format {choice!r} (use jsonl or csv)", field="format")
    if choice != "auto":
        return choice
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def _csv_value(column: str, value: str) -> Any:
    if column == "telegram_chat_id":
        try:
            return int(value)
        except ValueError as exc:
            raise InputError(f"telegram_chat_id: {value!r} is not a whole number", field=column) from exc
    if column == "consent":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise InputError(f"consent: {value!r} is not true or false", field=column)
    return value


def csv_row_to_event(row: dict[str, str | None]) -> dict[str, Any]:
    """Return the event (JSON shape) of one CSV row.

    Raises:
        InputError: naming the column whose value cannot be converted.
    """
    cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
    values = {k: _csv_value(k, v) for k, v in cells.items() if v and k in CSV_COLUMNS}
    customer: dict[str, Any] = {"id": values.get("customer_id")}
    for column, key in (
        ("customer_name", "name"),
        ("language", "language"),
        ("timezone", "timezone"),
        ("telegram_chat_id", "telegram_chat_id"),
        ("consent", "consent"),
    ):
        if column in values:
            customer[key] = values[column]
    event: dict[str, Any] = {
        "event_id": values.get("event_id"),
        "type": values.get("type"),
        "occurred_at": values.get("occurred_at"),
        "customer": customer,
    }
    if "order_id" in values:
        names = [n.strip() for n in str(values.get("items", "")).split("|") if n.strip()]
        event["order"] = {"id": values["order_id"], "items": [{"name": n} for n in names]}
    if "ticket_id" in values:
        event["ticket"] = {"id": values["ticket_id"]}
    return {k: v for k, v in event.items() if v is not None}


def _csv_field(field_path: str) -> str:
    if field_path in _CSV_FIELD:
        return _CSV_FIELD[field_path]
    if field_path.startswith("order.items"):
        return "items"
    return field_path


def read_events(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """Yield (line number, decoded event or the error) for each record of the file.

    Raises:
        InputError: when the file cannot be read at all (missing, not UTF-8, no CSV header).
    """
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", field="file") from exc
    with handle:
        try:
            if fmt == "csv":
                yield from _read_csv(handle)
            else:
                yield from _read_jsonl(handle)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8 text", field="file") from exc


def _read_jsonl(handle: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            yield number, InputError(f"line longer than {MAX_LINE_CHARS} characters", field="line")
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, InputError(f"not valid JSON: {exc.msg}", field="line")
            continue
        if not isinstance(data, dict):
            yield number, InputError("expected a JSON object", field="line")
            continue
        yield number, data


def _read_csv(handle: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    reader = csv.DictReader(handle)
    if reader.fieldnames is None:
        return
    missing = {"event_id", "type", "occurred_at", "customer_id"} - {f.strip() for f in reader.fieldnames}
    if missing:
        raise InputError(f"CSV header lacks the columns {', '.join(sorted(missing))}", field="header")
    for row in reader:
        number = reader.line_num
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue
        try:
            yield number, csv_row_to_event(row)
        except InputError as exc:
            yield number, exc


def count_records(path: Path) -> int:
    """Return the number of non-empty lines (the progress bar's total; CSV header included)."""
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return 0


def import_events(
    db: Database,
    journey: Journey,
    path: Path,
    now: datetime,
    *,
    fmt: str = "auto",
    quiet: QuietHours | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportTally:
    """Import every valid record of ``path``; invalid ones are reported with line and field, not written.

    Raises:
        InputError: when the file itself cannot be read.
        StorageError: when the database fails (lines already imported stay imported).
    """
    kind = detect_format(path, fmt)
    tally = ImportTally()
    for number, record in read_events(path, kind):
        if progress is not None:
            progress(number)
        try:
            if isinstance(record, InputError):
                raise record
            event = validate_event(record)
        except InputError as exc:
            where = exc.field or "line"
            message = str(exc)
            if kind == "csv" and exc.field is not None:
                column = _csv_field(exc.field)
                message = message.replace(f"{exc.field}:", f"{column}:", 1)
                where = column
            tally.invalid += 1
            tally.errors.append(LineError(number, where, message))
            continue
        try:
            result = ingest_event(db, journey, event, now, quiet=quiet)
        except ConflictError as exc:  # an erased customer: listed like an invalid line, nothing stored
            tally.invalid += 1
            tally.errors.append(LineError(number, "customer.id", str(exc)))
            continue
        if result.status == "accepted":
            tally.accepted += 1
            tally.scheduled += len(result.scheduled)
            tally.expired += len(result.expired)
        else:
            tally.duplicate += 1
    return tally
