"""Long polling: updates are stored in the inbox before the next ``getUpdates`` confirms them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog
from aiogram import Bot

from bot.channels.telegram import inbox
from bot.channels.telegram.api import call
from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import incoming
from bot.clock import Clock
from flows.errors import ChannelError, StorageError
from storage.db import Database

log = structlog.get_logger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]


class Poller:
    """Fetches updates with ``getUpdates`` and writes them to the inbox.

    The offset moves past an update only after it is stored (Telegram forgets updates below
    the offset), so a crash between fetching and storing just fetches them again.
    """

    def __init__(
        self,
        bot: Bot,
        db: Database,
        clock: Clock,
        on_stored: Callable[[], None],
        *,
        timeout: int = 25,
        error_delay: float = 2.0,
    ) -> None:
        self.bot = bot
        self.db = db
        self.clock = clock
        self.on_stored = on_stored
        self.timeout = timeout
        self.error_delay = error_delay
        self.offset: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                fetch = asyncio.create_task(self.poll_once())
                await asyncio.wait([fetch, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()  # nothing was confirmed: the next poll gets the updates again
                    with contextlib.suppress(asyncio.CancelledError):
                        await fetch
                    break
                try:
                    fetch.result()
                except (ChannelError, StorageError) as exc:
                    log.warning("poll_failed", error=str(exc))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.error_delay)
        finally:
            stopping.cancel()

    async def poll_once(self) -> int:
        """Fetch one batch of updates and store it; return how many were fetched.

        Raises:
            ChannelError: when the Bot API fails; StorageError: when the database does.
        """
        updates = await call(
            self.bot.get_updates(
                offset=self.offset,
                timeout=self.timeout,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=self.timeout + 10,
            ),
            "getUpdates",
        )
        if not updates:
            return 0
        raws: list[dict[str, Any]] = [
            u.model_dump(mode="json", by_alias=True, exclude_none=True) for u in updates
        ]
        rows = [row for row in (incoming(raw) for raw in raws) if row is not None]
        await asyncio.to_thread(inbox.store, self.db, CHANNEL, rows, self.clock())
        self.offset = max(u.update_id for u in updates) + 1
        self.on_stored()
        return len(updates)
