"""kill -9 of a worker process mid-dispatch and mid-inbound: nothing lost, duplicates bounded by in-flight."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from bot.engine.service import Service
from bot.infra.clock import utcnow
from flows.journey import Journey
from storage import migrate
from storage.db import Database
from storage.tables import InboxUpdate, OutboxMessage, Response, SurveyInstance
from tests.fakes.bot_api import FakeBotAPI
from tests.faults.worker import TOKEN, seed

WORKER = Path(__file__).with_name("worker.py")
pytestmark = pytest.mark.slow


def _start(role: str, url: str, api: FakeBotAPI) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), role, url, api.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


async def _spawn(role: str, url: str, api: FakeBotAPI) -> subprocess.Popen[bytes]:
    """Start a worker and wait until it has imported everything (a loaded machine is slow at that)."""
    proc = await asyncio.to_thread(_start, role, url, api)
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 180)
    assert line.strip() == b"ready", f"worker did not start: {line!r}"
    return proc


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


def _count(db: Database, table: type, *where: object) -> int:
    with db.read() as session:
        statement = select(func.count()).select_from(table)
        for clause in where:
            statement = statement.where(clause)  # type: ignore[arg-type]
        return int(session.exec(statement).one())


async def _until(done: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _first_sends(api: FakeBotAPI, text_part: str) -> Counter[int]:
    return Counter(
        c.chat_id for c in api.calls if c.method == "sendMessage" and c.ok and text_part in c.params["text"]
    )


async def _push_answers(api: FakeBotAPI, chats: list[int]) -> None:
    for chat in chats:
        api.push_message(chat, "4", language_code="en")
        await asyncio.sleep(0.04)


@pytest.fixture
def file_db(tmp_path: Path) -> Database:
    """A migrated SQLite file both the test and the worker process open."""
    database = Database(f"sqlite:///{tmp_path / 'faults.db'}")
    migrate.upgrade(database)
    return database


async def test_kill9_during_dispatch_loses_no_survey(file_db: Database, journey: Journey) -> None:
    """Killed mid-dispatch and restarted, the sender delivers every question; repeats ≤ in-flight."""
    chats = list(range(5001, 5081))
    assert seed(Service(file_db, journey, clock=utcnow), chats, utcnow()) == 80
    url = str(file_db.engine.url)
    async with FakeBotAPI(require_token=TOKEN) as api:
        proc = await _spawn("sender", url, api)
        try:
            await _until(lambda: api.stats.sent >= 25, 20, "the first sends")
            _kill(proc)
            in_flight = _count(
                file_db,
                OutboxMessage,
                OutboxMessage.status == "pending",
                col(OutboxMessage.leased_until).is_not(None),
            )
            sent_before = api.stats.sent
            assert sent_before < 80, "the worker finished before it was killed"
            proc = await _spawn("sender", url, api)
            await _until(
                lambda: _count(file_db, OutboxMessage, OutboxMessage.status == "pending") == 0, 30, "all"
            )
        finally:
            _kill(proc)
    sends = _first_sends(api, "delivery")
    assert set(sends) == set(chats)  # nothing lost
    duplicates = sum(n - 1 for n in sends.values())
    assert duplicates <= in_flight
    assert _count(file_db, SurveyInstance, SurveyInstance.status == "sent") == 80


async def test_kill9_during_inbound_loses_no_answer(file_db: Database, journey: Journey) -> None:
    """Killed while processing answers and restarted, every answer is stored once and answered."""
    chats = list(range(6001, 6061))
    assert seed(Service(file_db, journey, clock=utcnow), chats, utcnow()) == 60
    url = str(file_db.engine.url)
    with file_db.write() as session:  # the questions went out earlier
        session.connection().execute(OutboxMessage.__table__.update().values(status="sent"))  # type: ignore[attr-defined]
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        proc = await _spawn("channel", url, api)
        trickle: asyncio.Task[None] | None = None
        try:
            await api.wait_for("getUpdates", 1, timeout=20)
            # The answers trickle in (as customers' do) rather than all at once: a claimed batch is
            # stored in one transaction, so 60 pushed together could all be stored before the kill.
            trickle = asyncio.create_task(_push_answers(api, chats))
            await _until(lambda: _count(file_db, Response) >= 15, 30, "the first answers")
            _kill(proc)
            in_flight = _count(
                file_db,
                OutboxMessage,
                OutboxMessage.status == "pending",
                col(OutboxMessage.leased_until).is_not(None),
            )
            assert _count(file_db, Response) < 60, "the worker finished before it was killed"
            proc = await _spawn("channel", url, api)
            await trickle
            await _until(lambda: len(_first_sends(api, "main reason")) == 60, 40, "every follow-up")
        finally:
            if trickle is not None:
                trickle.cancel()
            _kill(proc)
    with file_db.read() as session:
        responses = session.exec(select(Response.customer_id, Response.score)).all()
    assert sorted(responses) == sorted((f"c{chat}", 4) for chat in chats)  # each stored once
    assert _count(file_db, InboxUpdate, col(InboxUpdate.processed_at).is_(None)) == 0
    sends = _first_sends(api, "main reason")
    assert sum(n - 1 for n in sends.values()) <= in_flight
