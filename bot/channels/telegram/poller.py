"""Long polling: updates are stored in the inbox before the next ``getUpdates`` confirms them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiogram import Bot

from bot.channels.bot_api import NOT_JSON, failure
from bot.channels.telegram.api import raw_call
from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import Route, incoming
from bot.infra.clock import Clock
from flows.errors import ChannelError, StorageError
from storage import inbox
from storage.db import Database

log = structlog.get_logger(__name__)

#: ``edited_message``: an edit may answer a still-open question; ``my_chat_member``: blocked/unblocked.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


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
        stall_margin: float = 30.0,
        route: Route = incoming,
    ) -> None:
        self.stall_margin = stall_margin
        self.route = route
        self.bot = bot
        self.db = db
        self.clock = clock
        self.on_stored = on_stored
        self.timeout = timeout
        self.error_delay = error_delay
        self.offset: int | None = None
        #: When ``getUpdates`` last answered (``time.monotonic``): a stalled poller shows in /readyz.
        self.last_success = time.monotonic()
        #: Why the last ``getUpdates`` failed; None once one succeeds.
        self.last_error: str | None = None
        #: Whether this worker polls now (a standby, without the poller lease, does not stall).
        self.running = False

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        stopping = asyncio.create_task(stop.wait())
        self.running, self.last_success = True, time.monotonic()
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
                    if self.last_error is not None:
                        log.info("poll_recovered", after=self.last_error)
                        self.last_error = None
                except (ChannelError, StorageError) as exc:
                    # Logged once per streak (an outage is one event, not one per poll).
                    (log.warning if self.last_error is None else log.debug)("poll_failed", error=str(exc))
                    self.last_error = str(exc)[:200]
                    await self._pause(stop)
                except Exception:  # a bug must not stop polling: logged, then the next poll
                    log.exception("poll_failed_unexpectedly", offset=self.offset)
                    await self._pause(stop)
        finally:
            self.running = False
            stopping.cancel()

    async def _pause(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.error_delay)

    async def poll_once(self) -> int:
        """Fetch one batch of updates and store it; return how many were fetched.

        The batch is read as raw JSON (never through aiogram's ``Update`` model), so one update
        the models would refuse cannot stop polling: each is stored as Telegram sent it, and
        read leniently when processed (see ``bot.channels.telegram.updates.read``), in the inbox
        of the channel it belongs to (``route``: the customers' chats or the agents' group).

        Raises:
            ChannelError: when the Bot API fails; StorageError: when the database does.
        """
        params: dict[str, Any] = {"timeout": self.timeout, "allowed_updates": ALLOWED_UPDATES}
        if self.offset is not None:
            params["offset"] = self.offset
        result = await raw_call(self.bot, "getUpdates", params, seconds=self.timeout + 10)
        self.last_success = time.monotonic()
        if not isinstance(result, list):
            raise failure("getUpdates", NOT_JSON, "result is not a list")
        if not result:
            return 0
        rows = [self.route(raw) if isinstance(raw, dict) else None for raw in result]
        stored = [row or _unreadable(raw) for row, raw in zip(rows, result, strict=True)]
        await asyncio.to_thread(inbox.store, self.db, CHANNEL, stored, self.clock())
        ids = [row.payload["update_id"] for row in rows if row is not None]
        if ids:
            self.offset = max(ids) + 1
        self.on_stored()
        return len(result)

    def silent_for(self) -> float:
        """Seconds since ``getUpdates`` last answered."""
        return time.monotonic() - self.last_success

    def stalled(self) -> bool:
        """Return True when, while polling, no ``getUpdates`` succeeded for longer than the long poll
        plus a margin."""
        return self.running and self.silent_for() > self.timeout + self.stall_margin


def _unreadable(raw: Any) -> inbox.Incoming:
    """The inbox row keeping an update without a usable ``update_id`` (skipped when processed)."""
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:24]
    payload = raw if isinstance(raw, dict) else {"unreadable": raw}
    return inbox.Incoming(external_id=f"bad-{digest}", chat_key="-", payload=payload)
