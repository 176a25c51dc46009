"""SQLite's one writer at a time, among the threads of one process."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

import storage.db
from flows.errors import StorageError
from storage.db import Database


def test_a_waiting_writer_gets_the_lock_as_soon_as_the_holder_commits(sqlite_db: Database) -> None:
    """A second thread's write waits for the first to commit, then runs: both rows are stored."""
    holding = threading.Event()
    waited: list[float] = []

    def first() -> None:
        with sqlite_db.write() as session:
            session.connection().execute(text("CREATE TABLE probe (n INTEGER)"))
            session.connection().execute(text("INSERT INTO probe VALUES (1)"))
            holding.set()
            time.sleep(0.2)

    def second() -> None:
        holding.wait()
        began = time.monotonic()
        with sqlite_db.write() as session:
            waited.append(time.monotonic() - began)
            session.connection().execute(text("INSERT INTO probe VALUES (2)"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    with sqlite_db.read() as session:
        rows = session.connection().execute(text("SELECT n FROM probe ORDER BY n")).scalars().all()
    assert rows == [1, 2]
    assert waited and waited[0] >= 0.1  # it did wait for the holder


def test_a_writer_held_up_past_the_busy_timeout_gets_a_storage_error(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another thread keeps the write lock beyond the busy timeout, the waiter fails with
    StorageError (as SQLite's own busy timeout would) instead of waiting for ever."""
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with sqlite_db.write():
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(5)
    try:
        with pytest.raises(StorageError, match="locked"), sqlite_db.write():
            pass
    finally:
        release.set()
        thread.join(5)
    with sqlite_db.write():  # free again
        pass
