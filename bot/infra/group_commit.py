"""Group commit: many coroutines hand in items; one writer stores all that are waiting at once.

A write transaction costs more than the rows in it (on SQLite, one writer at a time), so the
sender's delivery outcomes and the webhook's updates are written together: no timer, whatever
arrives while a write is under way goes into the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Writes submitted items in batches with ``write`` (run in a thread), one call per pass.

    ``write`` returns one result per item, in order; if it raises, every item of that pass gets
    the exception. ``on_written`` runs after each successful pass (e.g. to wake a consumer).
    """

    def __init__(
        self,
        write: Callable[[list[T]], list[R]],
        *,
        name: str,
        on_written: Callable[[], None] = lambda: None,
    ) -> None:
        self._write = write
        self._name = name
        self._on_written = on_written
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` for the next write; return its result once written.

        Raises:
            Exception: whatever ``write`` raised for the pass holding ``item``.
            asyncio.CancelledError: when the writer was cancelled (the loop is shutting down).
        """
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=self._name)
        return await done

    async def _flush(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await asyncio.to_thread(self._write, [item for item, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for (_, done), result in zip(batch, results, strict=True):
                        if not done.done():
                            done.set_result(result)
                    self._on_written()
                batch = []
        finally:  # cancelled: release whoever still waits
            for _, done in batch + self._queue:
                done.cancel()
