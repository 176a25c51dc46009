"""Group commit: items handed in while a write runs are written together in the next one."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.infra.group_commit import GroupCommit
from flows.errors import StorageError


async def test_items_arriving_during_a_write_share_the_next() -> None:
    """The first item is written alone; the five that arrive meanwhile go in one second write."""
    writes: list[list[int]] = []
    release = threading.Event()

    def write(items: list[int]) -> list[int]:
        if not writes:
            release.wait(5)  # hold the first write until the others are queued
        writes.append(items)
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(write, name="test")
    first = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0.05)
    rest = [asyncio.create_task(group.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0.05)
    release.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [10, 20, 30, 40, 50]
    assert writes == [[0], [1, 2, 3, 4, 5]]


async def test_a_failed_write_fails_every_item_of_its_pass() -> None:
    """When the write raises, each waiting caller gets the error; the next pass starts afresh."""
    calls: list[list[str]] = []

    def write(items: list[str]) -> list[object]:
        calls.append(items)
        if len(calls) == 1:
            raise StorageError("database is locked")
        return [None] * len(items)

    group: GroupCommit[str, object] = GroupCommit(write, name="test")
    results = await asyncio.gather(group.submit("a"), group.submit("b"), return_exceptions=True)
    assert [type(r) for r in results] == [StorageError, StorageError]
    assert await group.submit("c") is None
    assert calls == [["a", "b"], ["c"]]


async def test_on_written_runs_after_each_successful_pass() -> None:
    """The consumer is woken after a write that succeeded, not after one that failed."""
    woken: list[int] = []
    group: GroupCommit[int, int] = GroupCommit(
        lambda items: items, name="test", on_written=lambda: woken.append(1)
    )
    await group.submit(1)
    await group.submit(2)
    assert woken == [1, 1]
    failing: GroupCommit[int, int] = GroupCommit(_boom, name="test", on_written=lambda: woken.append(2))
    with pytest.raises(StorageError):
        await failing.submit(1)
    assert woken == [1, 1]


def _boom(items: list[int]) -> list[int]:
    raise StorageError("down")
