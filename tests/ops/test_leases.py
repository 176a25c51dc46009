"""Leader leases: one holder at a time, renewals, take-over after expiry, release on a clean stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.infra.leader import Component, lead
from storage import leases
from storage.db import Database
from tests.clocks import RunningClock

T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
TTL = timedelta(seconds=5)


def test_one_holder_until_the_lease_expires(db: Database) -> None:
    """A takes the lease; B cannot until it has expired; then B takes it over and A cannot renew."""
    assert leases.try_lead(db, "poller", "A", T0, TTL)
    assert not leases.try_lead(db, "poller", "B", T0 + timedelta(seconds=1), TTL)
    assert leases.try_lead(db, "poller", "A", T0 + timedelta(seconds=4), TTL)  # renewed to T0+9s
    assert not leases.try_lead(db, "poller", "B", T0 + timedelta(seconds=8), TTL)
    assert leases.holder_of(db, "poller", T0 + timedelta(seconds=8)) == "A"
    assert leases.try_lead(db, "poller", "B", T0 + timedelta(seconds=9), TTL)
    assert not leases.try_lead(db, "poller", "A", T0 + timedelta(seconds=10), TTL)
    assert leases.holder_of(db, "poller", T0 + timedelta(seconds=10)) == "B"


def test_release_hands_over_at_once_and_names_are_independent(db: Database) -> None:
    """A released lease is free immediately; leases of different names do not exclude each other."""
    assert leases.try_lead(db, "poller:1", "A", T0, TTL)
    assert leases.try_lead(db, "poller:2", "B", T0, TTL)
    leases.release(db, "poller:1", "B")  # not B's: nothing happens
    assert not leases.try_lead(db, "poller:1", "B", T0, TTL)
    leases.release(db, "poller:1", "A")
    assert leases.holder_of(db, "poller:1", T0) is None
    assert leases.try_lead(db, "poller:1", "B", T0, TTL)


async def test_only_the_leader_runs_the_component_and_a_standby_takes_over(
    db: Database, session_clock: RunningClock
) -> None:
    """Two workers wrap the same component: one runs it; when it stops, the other starts it."""
    running: list[str] = []
    ran: list[str] = []

    def component(who: str) -> Component:
        async def run(stop: asyncio.Event) -> None:
            running.append(who)
            ran.append(who)
            try:
                await stop.wait()
            finally:
                running.remove(who)

        return run

    stops = {who: asyncio.Event() for who in "AB"}
    tasks = {
        who: asyncio.create_task(
            lead(
                db,
                "p",
                component(who),
                session_clock,
                holder=who,
                ttl=timedelta(seconds=0.5),
                renew_every=0.05,
            )(stops[who])
        )
        for who in "AB"
    }
    for _ in range(40):  # ~1 s of both trying: never two at once
        await asyncio.sleep(0.025)
        assert len(running) <= 1
    assert len(running) == 1 and ran == running
    first = running[0]
    other = "B" if first == "A" else "A"
    stops[first].set()
    await tasks[first]
    for _ in range(100):
        if running == [other]:
            break
        await asyncio.sleep(0.02)
    assert running == [other] and ran == [first, other]
    stops[other].set()
    await tasks[other]
    assert running == []


async def test_a_leader_that_cannot_renew_stops_before_its_lease_ends(
    db: Database, session_clock: RunningClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the database fails, the leader stops its component before the lease could pass to another."""
    running: list[bool] = []

    async def component(stop: asyncio.Event) -> None:
        running.append(True)
        await stop.wait()
        running.clear()

    stop = asyncio.Event()
    task = asyncio.create_task(
        lead(db, "p", component, session_clock, holder="A", ttl=timedelta(seconds=0.6), renew_every=0.05)(
            stop
        )
    )
    for _ in range(50):
        if running:
            break
        await asyncio.sleep(0.02)
    assert running
    down_at = session_clock()

    def fails(*_: object) -> bool:
        raise RuntimeError("database down")

    monkeypatch.setattr(leases, "try_lead", fails)
    for _ in range(100):
        if not running:
            break
        await asyncio.sleep(0.02)
    stopped_after = session_clock() - down_at
    stop.set()
    await task
    assert not running and stopped_after < timedelta(seconds=0.6)
