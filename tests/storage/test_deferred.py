"""Writes held back in a batch (storage.deferred): sent before any other statement and at the end."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event
from sqlmodel import select

from storage import deferred, repo
from storage.db import Database
from storage.tables import OutboxMessage
from tests.clocks import FakeClock


def _message(db: Database, now: datetime, address: str) -> None:
    with db.write() as session:
        repo.enqueue_message(session, channel="telegram", address=address, payload={"text": "hi"}, now=now)


def test_held_back_writes_are_seen_by_a_later_read(db: Database, clock: FakeClock) -> None:
    """A read inside the batch sees the writes held back before it, in the order they were made."""
    with db.write() as session, deferred.deferring(session):
        for address in ("1", "2", "3"):
            repo.enqueue_message(
                session, channel="telegram", address=address, payload={"n": address}, now=clock.now
            )
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()  # type: ignore[arg-type]
        assert [row.address for row in rows] == ["1", "2", "3"]


def test_held_back_writes_go_as_one_statement(db: Database, clock: FakeClock) -> None:
    """Three outbox rows held back reach the database in one executemany, before the commit."""
    batches: list[bool] = []  # per INSERT sent: whether it carried many rows

    def sent(*args: object) -> None:
        if str(args[2]).lstrip().upper().startswith("INSERT"):
            batches.append(bool(args[5]))

    event.listen(db.engine, "before_cursor_execute", sent)
    with db.write() as session, deferred.deferring(session):
        for address in ("1", "2", "3"):
            repo.enqueue_message(session, channel="telegram", address=address, payload={}, now=clock.now)
        assert batches == []  # nothing sent yet
    assert batches == [True]
    with db.read() as session:
        assert len(session.exec(select(OutboxMessage)).all()) == 3


def test_without_deferring_writes_go_at_once(db: Database, clock: FakeClock) -> None:
    """Outside a batch a write runs at once, as it always did."""
    with db.write() as session:
        repo.enqueue_message(session, channel="telegram", address="9", payload={}, now=clock.now)
        assert session.connection().info.get("cxbot.deferred") is None
        assert len(session.exec(select(OutboxMessage)).all()) == 1


def test_then_is_told_whether_the_row_existed(db: Database, clock: FakeClock) -> None:
    """A held-back survey update tells its caller, once sent, whether the survey was there."""
    told: list[bool] = []
    with db.write() as session, deferred.deferring(session):
        repo.set_survey(session, 424242, {"reasks": 1}, told.append)
        assert told == []
    assert told == [False]


def test_nothing_held_is_left_on_a_pooled_connection(db: Database, clock: FakeClock) -> None:
    """A batch that raises leaves nothing held on its connection for the next transaction."""
    try:
        with db.write() as session, deferred.deferring(session):
            repo.enqueue_message(session, channel="telegram", address="5", payload={}, now=clock.now)
            raise RuntimeError("step failed")
    except RuntimeError:
        pass
    _message(db, clock.now, "6")
    with db.read() as session:
        assert [row.address for row in session.exec(select(OutboxMessage))] == ["6"]
