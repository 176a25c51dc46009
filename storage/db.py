"""Engines and transactions for SQLite (embedded default) and PostgreSQL (scale-out).

Writes go through ``Database.write()``: on SQLite it opens ``BEGIN IMMEDIATE`` so two writers
never deadlock upgrading a read lock; on PostgreSQL rows are locked explicitly where needed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlmodel import Session as Session  # re-exported: bot/ names a transaction's type without sqlmodel

from flows.errors import ConfigError, StorageError
from storage import deferred

SQLITE_BUSY_TIMEOUT_MS = 10_000

#: What the database refuses for one row's values (a constraint, a value out of range): an error of
#: that item, not of the database. bot/ names them without importing SQLAlchemy.
REFUSED_WRITE: tuple[type[Exception], ...] = (IntegrityError, DataError)
#: Any error the database layer raises (for messages at the edge).
DATABASE_ERROR: type[Exception] = SQLAlchemyError


def normalise_url(url: str) -> str:
    """Return ``url`` with the driver cxbot uses (psycopg 3 for PostgreSQL).

    Raises:
        ConfigError: when the URL is not SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise ConfigError(f"CXBOT_DATABASE_URL is not a database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ConfigError(
        f"CXBOT_DATABASE_URL: unsupported database {backend!r} (use sqlite:// or postgresql://)"
    )


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    # No mkdir here: only ``cxbot db upgrade``/``serve`` (storage.migrate.upgrade) create a database.
    parsed = make_url(url)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        poolclass=NullPool if parsed.database in (None, "", ":memory:") else None,
        hide_parameters=True,  # an error's text never carries the row's values (personal data)
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class _WriteTurn:
    """A re-entrant lock for the SQLite writers of one process, given up on after the busy timeout.

    Raises (on entry):
        StorageError: when another thread has held the write lock for longer than the timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise StorageError("database error: database is locked (another writer of this process)")

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class Database:
    """The application's database: a write engine and a read engine (the same on PostgreSQL)."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
            # SQLite has one writer at a time. Its busy handler polls with growing sleeps
            # (1, 2, 5, 10… ms), so threads of this process waiting for each other's write lock
            # would wake late; queueing them on a Python lock hands it over at once. Other
            # processes still meet the busy timeout.
            self._write_turn: AbstractContextManager[Any] = _WriteTurn()
        else:
            self.engine = create_engine(
                self.url, pool_size=pool_size, pool_pre_ping=True, hide_parameters=True
            )  # hide_parameters: an error's text never carries the row's values (personal data)
            self.read_engine = self.engine
            self._write_turn = nullcontext()
        deferred.install(self.engine)  # writes held back in a batch go before any other statement

    @property
    def is_sqlite(self) -> bool:
        """Return True on the embedded SQLite backend."""
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Yield a session in one write transaction, committed on success, rolled back on error.

        Raises:
            StorageError: when the database fails (locked for too long, unreachable…).
        """
        with self._write_turn, Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except OperationalError as exc:
                session.rollback()
                raise StorageError(f"database error: {exc.orig}") from exc
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Yield a session for reading (no lock taken on SQLite).

        Raises:
            StorageError: when the database fails.
        """
        with Session(self.read_engine, expire_on_commit=False) as session:
            try:
                yield session
            except OperationalError as exc:
                raise StorageError(f"database error: {exc.orig}") from exc

    def ping(self) -> None:
        """Run ``SELECT 1``: raise when the database cannot be reached."""
        with self.read() as session:
            session.connection().execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
