"""Delivering outbox messages to in-process channels (the terminal shell, the demo)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from storage.claims import ClaimedMessage, claim_outbox, finish_messages
from storage.db import Database


def deliver_local(
    db: Database, channel: str, now: datetime, show: Callable[[ClaimedMessage], None], *, owner: str = "local"
) -> int:
    """Hand every pending message of ``channel`` to ``show`` in order, mark it sent; return how many.

    A claim returns at most one message per chat (the oldest), so this loops until none is left.
    """
    delivered = 0
    while True:
        batch = claim_outbox(db, owner, now, channels=(channel,), limit=500)
        if not batch:
            return delivered
        for message in batch:
            show(message)
        finish_messages(db, [m.id for m in batch], now)
        delivered += len(batch)
