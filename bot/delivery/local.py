"""Delivering outbox messages to in-process channels (the terminal shell, the demo)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from bot.delivery.sender import Sender, SenderConfig
from storage.claims import ClaimedMessage
from storage.db import Database


class LocalTransport:
    """Hands each message to ``show`` (printing it, or reading it in a simulation)."""

    def __init__(self, show: Callable[[ClaimedMessage], None]) -> None:
        self.show = show

    async def deliver(self, message: ClaimedMessage) -> None:
        """Show the message; showing cannot fail."""
        self.show(message)


def deliver_local(
    db: Database, channel: str, now: datetime, show: Callable[[ClaimedMessage], None], *, owner: str = "local"
) -> int:
    """Hand every message of ``channel`` due at ``now`` to ``show`` in order; return how many.

    The one outbox sender does it, run to completion here: the shell and the demo are synchronous.
    """
    sender = Sender(
        db, channel, LocalTransport(show), clock=lambda: now, owner=owner, config=SenderConfig(batch=500)
    )
    return asyncio.run(sender.drain()).get("sent", 0)
