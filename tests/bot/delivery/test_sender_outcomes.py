"""The sender records delivery outcomes by group commit: one transaction per batch of outcomes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import col, select

from bot.delivery.sender import PROGRESS, Sender, SenderConfig
from bot.infra.clock import utcnow
from flows.errors import ChannelError
from storage import repo
from storage.claims import ClaimedMessage, claim_outbox
from storage.db import Database
from storage.tables import OutboxMessage

CHANNEL = "test"


class NoLimits:
    """A rate limiter that never waits; remembers pauses."""

    def __init__(self) -> None:
        self.paused: dict[str, float] = {}

    async def acquire(self, address: str, *, group: bool) -> None:
        return None

    def pause(self, address: str, seconds: float) -> None:
        self.paused[address] = seconds


class GatedTransport:
    """Each delivery waits for its chat's gate, then succeeds (or runs ``behaviour``)."""

    def __init__(self, behaviour: Callable[[ClaimedMessage], dict[str, Any]] | None = None) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.waiting: set[str] = set()
        self.returned = 0
        self.behaviour = behaviour or (lambda m: {"message_id": m.id})

    def is_group(self, address: str) -> bool:
        return False

    def gate(self, address: str) -> asyncio.Event:
        return self.gates.setdefault(address, asyncio.Event())

    async def deliver(self, message: ClaimedMessage) -> dict[str, Any]:
        self.waiting.add(message.address)
        await self.gate(message.address).wait()
        self.returned += 1
        return self.behaviour(message)


def _enqueue(db: Database, messages: list[tuple[str, dict[str, Any]]]) -> None:
    now = utcnow()
    with db.write() as session:
        for address, payload in messages:
            repo.enqueue_message(session, channel=CHANNEL, address=address, payload=payload, now=now)


def _rows(db: Database) -> list[OutboxMessage]:
    with db.read() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def _sender(db: Database, transport: Any, **config: Any) -> Sender:
    config = {"idle_interval": 0.05, **config}
    return Sender(db, CHANNEL, transport, NoLimits(), config=SenderConfig(**config))


@contextmanager
def _commits(db: Database) -> Iterator[list[int]]:
    """Count the write engine's commits (a real SQLAlchemy event, no mock) while inside."""
    counted: list[int] = []

    def on_commit(_conn: Any) -> None:
        counted.append(1)

    event.listen(db.engine, "commit", on_commit)
    try:
        yield counted
    finally:
        event.remove(db.engine, "commit", on_commit)


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def test_outcomes_finished_together_are_recorded_in_one_transaction(db: Database) -> None:
    """Eight deliveries that finish together are marked sent by a single write transaction."""
    chats = [str(100 + n) for n in range(8)]
    _enqueue(db, [(chat, {"text": "hi"}) for chat in chats])
    transport = GatedTransport()
    sender = _sender(db, transport)
    once = asyncio.create_task(sender.send_once())
    await _until(lambda: transport.waiting == set(chats))  # claimed (and committed) already
    with _commits(db) as commits:
        for chat in chats:
            transport.gate(chat).set()
        assert await once == len(chats)
    assert len(commits) == 1
    rows = _rows(db)
    assert [(r.status, r.leased_until, r.payload["message_id"]) for r in rows] == [
        ("sent", None, r.id) for r in rows
    ]


async def test_outcomes_arriving_during_a_write_go_together_in_the_next(sqlite_db: Database) -> None:
    """Group commit: while one outcome is being written, the others queue and share the next write."""
    chats = [str(200 + n) for n in range(6)]
    _enqueue(sqlite_db, [(chat, {"text": "hi"}) for chat in chats])
    transport = GatedTransport()
    sender = _sender(sqlite_db, transport)
    once = asyncio.create_task(sender.send_once())
    await _until(lambda: transport.waiting == set(chats))
    entered, hold = threading.Event(), threading.Event()

    def slow_write(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE outbox") and not entered.is_set():
            entered.set()
            hold.wait(5)  # the first write is under way while the others finish

    event.listen(sqlite_db.engine, "before_cursor_execute", slow_write)
    try:
        with _commits(sqlite_db) as commits:
            transport.gate(chats[0]).set()
            await asyncio.to_thread(entered.wait, 5)
            for chat in chats[1:]:
                transport.gate(chat).set()
            await _until(lambda: transport.returned == len(chats))
            assert [r.status for r in _rows(sqlite_db)] == ["pending"] * len(chats)  # none written yet
            hold.set()
            assert await once == len(chats)
    finally:
        event.remove(sqlite_db.engine, "before_cursor_execute", slow_write)
    assert len(commits) == 2
    assert {r.status for r in _rows(sqlite_db)} == {"sent"}


async def test_unrecorded_outcome_keeps_the_message_leased(db: Database) -> None:
    """When the outcome cannot be written the message stays leased, and is claimable after its lease."""
    _enqueue(db, [("300", {"text": "hi"})])
    transport = GatedTransport()
    transport.gate("300").set()
    sender = _sender(db, transport, lease=timedelta(seconds=30))
    dbapi = db.engine.dialect.loaded_dbapi

    def refuse(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE outbox") and "sent_at" in statement:
            raise dbapi.OperationalError("injected: the disk is full")

    event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        assert await sender.send_once() == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", refuse)
    (row,) = _rows(db)
    now = utcnow()
    assert row.status == "pending" and row.leased_until is not None and row.leased_until > now
    assert claim_outbox(db, "other", now, channels=(CHANNEL,)) == []  # still leased
    (again,) = claim_outbox(db, "other", now + timedelta(seconds=31), channels=(CHANNEL,))
    assert again.id == row.id  # the lease ran out: taken over, so the message is not lost


async def test_one_unwritable_outcome_does_not_hold_back_the_others(db: Database) -> None:
    """An outcome the database cannot store alone stays unrecorded; its batch-mates are recorded."""
    chats = ["401", "402", "403"]
    _enqueue(db, [(chat, {"text": "hi"}) for chat in chats])

    def behaviour(message: ClaimedMessage) -> dict[str, Any]:
        return {"message_id": object()} if message.address == "402" else {"message_id": 1}

    transport = GatedTransport(behaviour)
    sender = _sender(db, transport)
    once = asyncio.create_task(sender.send_once())
    await _until(lambda: transport.waiting == set(chats))
    for chat in chats:
        transport.gate(chat).set()
    assert await once == 3
    statuses = {r.address: (r.status, r.leased_until is None) for r in _rows(db)}
    assert statuses == {"401": ("sent", True), "402": ("pending", False), "403": ("sent", True)}


async def test_failed_part_keeps_the_parts_sent_and_pauses_the_chat(db: Database) -> None:
    """A long text failing after its first part (429) stores the parts sent and retries after retry_after."""
    _enqueue(db, [("500", {"text": "long"})])

    def first_part_then_flood(message: ClaimedMessage) -> dict[str, Any]:
        message.payload[PROGRESS] = 1  # as the Telegram transport does after each part
        raise ChannelError("Too Many Requests", retry_after=7)

    transport = GatedTransport(first_part_then_flood)
    transport.gate("500").set()
    sender = _sender(db, transport)
    before = utcnow()
    assert await sender.send_once() == 1
    (row,) = _rows(db)
    assert (row.status, row.leased_until, row.payload[PROGRESS]) == ("pending", None, 1)
    assert row.not_before >= before + timedelta(seconds=7)
    assert sender.limiter.paused == {"500": 7}  # type: ignore[attr-defined]


async def test_next_message_of_a_chat_is_claimed_once_the_outcome_is_written(db: Database) -> None:
    """A chat's messages go out back to back: each write wakes the claim loop (no idle wait)."""
    _enqueue(db, [("600", {"text": f"m{i}"}) for i in range(3)])
    transport = GatedTransport(lambda m: {"message_id": m.payload["text"]})
    transport.gate("600").set()
    sender = _sender(db, transport, idle_interval=60.0)  # only a wake-up can claim the next one
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        await _until(lambda: all(r.status == "sent" for r in _rows(db)))
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert [r.payload["message_id"] for r in _rows(db)] == ["m0", "m1", "m2"]
