"""Writes of a batch held back and sent together (executemany) before anything else runs.

A batch of conversation steps writes the same few rows per step (answer, survey status, state,
outbox message, inbox mark). Sent one statement at a time they cost a round trip each (and
SQLAlchemy's per-statement work); held back, each kind goes as one ``executemany`` (psycopg runs
it in pipeline mode; SQLite in one call).

What keeps this exact: the held-back writes are sent, in the order they were made (per
statement; statements in the order first used), **before any other statement runs on the
connection** (a read, or a write that is not held back: an engine event, ``before_execute``),
and before the transaction commits (``deferring`` sends them on exit). So every read in the
transaction sees every write made before it, as if each had gone at once. Writes of different
kinds change different tables or columns, so sending them grouped by kind changes nothing.

A held-back write that fails (a constraint) fails the whole batch with ``DeferredWriteFailed``:
the caller rolls back and runs the batch again writing at once, which names the failing step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError, StatementError
from sqlmodel import Session

_KEY = "cxbot.deferred"

#: Told whether the row of a held-back UPDATE existed (its statement changed a row).
Then = Callable[[bool], None]


class DeferredWriteFailed(Exception):
    """A held-back write was refused by the database (the batch is to be run again, writing at once)."""


class Deferred:
    """The writes held back on one connection, grouped by statement and parameter names."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._groups: dict[tuple[Any, frozenset[str]], list[tuple[dict[str, Any], Then | None]]] = {}
        self._sending = False

    def add(self, statement: Any, params: dict[str, Any], then: Then | None = None) -> None:
        """Hold ``statement`` with ``params`` back until the next statement or the end."""
        self._groups.setdefault((statement, frozenset(params)), []).append((params, then))

    def send(self) -> None:
        """Send every held-back write, each statement once with all its rows.

        Raises:
            DeferredWriteFailed: when the database refused one of them (a constraint, a value).
        """
        if not self._groups or self._sending:
            return
        groups, self._groups = self._groups, {}
        self._sending = True
        try:
            for (statement, _), rows in groups.items():
                self._send(statement, rows)
        except OperationalError:
            raise  # the database failing (locked, unreachable): the whole batch fails, as ever
        except (StatementError, ValueError, TypeError) as exc:  # one row's write refused
            raise DeferredWriteFailed(f"held-back write refused: {type(exc).__name__}") from exc
        finally:
            self._sending = False

    def _send(self, statement: Any, rows: list[tuple[dict[str, Any], Then | None]]) -> None:
        result = self.conn.execute(statement, [params for params, _ in rows])
        if all(then is None for _, then in rows):
            return
        if result.rowcount == len(rows):  # each statement changed its row
            for _, then in rows:
                if then is not None:
                    then(True)
            return
        for params, then in rows:  # rare (a row gone): ask again, one at a time (the same values)
            changed = self.conn.execute(statement, params).rowcount > 0
            if then is not None:
                then(changed)


def execute(session: Session, statement: Any, params: dict[str, Any], then: Then | None = None) -> None:
    """Run ``statement`` with ``params`` now, or hold it back when the session is ``deferring``.

    ``then``, for an UPDATE, is told whether it changed a row, once it ran.
    """
    conn = session.connection()
    held: Deferred | None = conn.info.get(_KEY)
    if held is not None:
        held.add(statement, params, then)
        return
    result = conn.execute(statement, params)
    if then is not None:
        then(result.rowcount > 0)


@contextmanager
def deferring(session: Session) -> Iterator[Deferred]:
    """Hold back the writes made through ``execute`` on ``session`` inside this block; send them
    before any other statement and at the end of the block (not when it raises: the transaction
    is rolled back then).

    Raises:
        DeferredWriteFailed: when the database refused a held-back write.
    """
    conn = session.connection()
    held = Deferred(conn)
    conn.info[_KEY] = held
    try:
        yield held
        held.send()
    finally:
        conn.info.pop(_KEY, None)  # the connection goes back to the pool: nothing held on it


def install(engine: Engine) -> None:
    """Send a connection's held-back writes before any other statement runs on it."""
    event.listen(engine, "before_execute", _before_execute)


def _before_execute(conn: Connection, *args: Any) -> None:
    held: Deferred | None = conn.info.get(_KEY)
    if held is not None:
        held.send()
