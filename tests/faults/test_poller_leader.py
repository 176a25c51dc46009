"""One Telegram poller per bot across workers: the standby takes over within seconds of a kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot.infra.clock import utcnow
from bot.infra.leader import DEFAULT_RENEW_EVERY, DEFAULT_TTL
from storage import leases, migrate
from storage.db import Database
from storage.tables import InboxUpdate, LeaderLease
from tests.fakes.bot_api import FakeBotAPI
from tests.faults.worker import TOKEN

WORKER = Path(__file__).with_name("worker.py")
LEASE = f"telegram-poller:{TOKEN.split(':')[0]}"
pytestmark = pytest.mark.slow


def _spawn(url: str, api: FakeBotAPI) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), "channel", url, api.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _until(done: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _stored(db: Database) -> int:
    with db.read() as session:
        return int(session.exec(select(func.count()).select_from(InboxUpdate)).one())


def _leader_pid(db: Database) -> int | None:
    holder = leases.holder_of(db, LEASE, utcnow())
    return int(holder.split(":")[1]) if holder else None


def _acquired_at(db: Database) -> datetime:
    with db.read() as session:
        lease = session.get(LeaderLease, LEASE)
    assert lease is not None
    return lease.acquired_at


async def test_kill9_of_the_polling_leader_hands_polling_to_the_standby(tmp_path: Path) -> None:
    """Two polling workers: one polls (no 409), the other stands by; after kill -9 of the poller the
    standby polls within TTL + renewal + one poll, and updates sent meanwhile are stored."""
    db = Database(f"sqlite:///{tmp_path / 'leader.db'}")
    migrate.upgrade(db)
    url = str(db.engine.url)
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        procs = {}
        try:
            first = _spawn(url, api)
            procs[first.pid] = first
            await _until(lambda: _leader_pid(db) == first.pid, 90, "the first worker to lead")
            second = _spawn(url, api)
            procs[second.pid] = second
            # Each worker calls deleteWebhook once started: then the second one is up, standing by.
            await _until(lambda: len(api.calls_of("deleteWebhook")) >= 2, 90, "the second worker")
            await asyncio.sleep(3)  # both workers up: the second must stay a standby
            assert _leader_pid(db) == first.pid
            assert not [c for c in api.calls if c.method == "getUpdates" and c.status == 409]
            api.push_message(7001, "ciao")
            await _until(lambda: _stored(db) == 1, 10, "the leader to store an update")

            os.kill(first.pid, signal.SIGKILL)
            killed_at, killed_clock = time.monotonic(), utcnow()
            first.wait(5)
            api.push_message(7002, "ci sei?")  # arrives while nobody polls
            await _until(
                lambda: any(c.method == "getUpdates" and c.at > killed_at for c in api.calls),
                30,
                "a new poller",
            )
            gap = min(c.at for c in api.calls if c.method == "getUpdates" and c.at > killed_at) - killed_at
            await _until(lambda: _stored(db) == 2, 10, "the standby to store the update sent meanwhile")
            assert _leader_pid(db) == second.pid
            taken_over = (_acquired_at(db) - killed_clock).total_seconds()
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(5)
    db.dispose()
    ttl = DEFAULT_TTL.total_seconds()
    print(f"\nkill -9 of the poller: lease taken over in {taken_over:.2f} s, next getUpdates in {gap:.2f} s")
    assert not [c for c in api.calls if c.method == "getUpdates" and c.status == 409]
    # The lease passes at most TTL + one renewal period after the kill (slack for a loaded machine);
    # the first poll then follows once the new leader's event loop gets to it.
    assert taken_over <= ttl + DEFAULT_RENEW_EVERY + 3
    assert gap <= taken_over + 10
