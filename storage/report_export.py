"""Raw rows for recomputing the weekly report elsewhere (``bot.report.export``): each kind paged
by id, so a large table streams in batches, each read in its own short transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Row, Table, select

from storage.db import Database
from storage.tables import ChannelIdentity, ClosingQuestion, Customer, DueWork, Escalation, SurveyInstance

_SURVEYS: Table = SurveyInstance.__table__  # type: ignore[attr-defined]
_DUE_WORK: Table = DueWork.__table__  # type: ignore[attr-defined]
_IDENTITIES: Table = ChannelIdentity.__table__  # type: ignore[attr-defined]
_ESCALATIONS: Table = Escalation.__table__  # type: ignore[attr-defined]
_CLOSING: Table = ClosingQuestion.__table__  # type: ignore[attr-defined]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]


def _paged(db: Database, statement: Any, batch: int) -> Iterator[Row[Any]]:
    """Yield ``statement``'s rows (ordered by its first column, an id) in batches of ``batch``."""
    key = statement.selected_columns[0]
    last: Any = None
    while True:
        page = statement if last is None else statement.where(key > last)
        with db.read_engine.connect() as conn:
            rows = conn.execute(page.order_by(key).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def surveys(db: Database, columns: Sequence[str], batch: int = 5000) -> Iterator[Row[Any]]:
    """Yield each survey's ``columns`` (the first its id), then whether its timer waits for a chat
    and whether one of the customer's chats blocked the bot."""
    s, w, i = _SURVEYS, _DUE_WORK, _IDENTITIES
    waiting = (
        select(w.c.id)
        .where(w.c.survey_id == s.c.id, w.c.kind == "survey_due", w.c.status == "waiting")
        .exists()
    )
    blocked = select(i.c.id).where(i.c.customer_id == s.c.customer_id, i.c.blocked_at.is_not(None)).exists()
    yield from _paged(db, select(*(s.c[name] for name in columns), waiting, blocked), batch)


def escalations(db: Database, columns: Sequence[str], batch: int = 5000) -> Iterator[Row[Any]]:
    """Yield each escalation's ``columns`` (the first its id)."""
    yield from _paged(db, select(*(_ESCALATIONS.c[name] for name in columns)), batch)


def closing_questions(db: Database, columns: Sequence[str], batch: int = 5000) -> Iterator[Row[Any]]:
    """Yield each closing question's ``columns`` (the first its id)."""
    yield from _paged(db, select(*(_CLOSING.c[name] for name in columns)), batch)


def customers(db: Database, columns: Sequence[str], batch: int = 5000) -> Iterator[Row[Any]]:
    """Yield each customer's ``columns`` (the first its id)."""
    yield from _paged(db, select(*(_CUSTOMERS.c[name] for name in columns)), batch)
