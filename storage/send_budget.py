"""Granting outbound slots from the budget every worker shares (table ``send_budget``).

One transaction grants the slots of a batch of requests: it locks the bot's row (key ``*``), so
grants of all workers are serialised, then reads and moves the rows of the chats concerned.
Times are Unix seconds from the caller's clock (workers on one host share it; across hosts the
clocks must be synchronised, as NTP does, to well under the hand-over gap).

Rules (``Budget``): the bot's slots are at least ``global_interval`` apart (the bot's row keeps
the slots booked ahead, so a gap left before a chat's later slot is given to another chat),
slots of one chat ``chat_interval`` apart, at most ``group_limit`` slots per ``group_window`` in
a group; when a chat's previous slot went to another worker, ``handoff`` more seconds pass first
(clocks of several hosts; 0 on one host). A request whose slot
would be further than its ``max_wait`` ahead is refused without booking anything, so a message
can be put back without pushing the chat's schedule.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage.db import Database
from storage.tables import SendBudget

_TABLE: Any = SendBudget.__table__  # type: ignore[attr-defined]
#: Key of the bot's own row (chat addresses never start with "*").
BOT = "*"


@dataclass(frozen=True)
class Budget:
    """The spacing rules; see the module docstring."""

    global_interval: float
    chat_interval: float
    group_limit: int
    group_window: float
    handoff: float


@dataclass(frozen=True)
class SlotRequest:
    """One call to make: to ``address`` ("" when it counts only against the bot's rate)."""

    address: str
    group: bool
    max_wait: float


@dataclass(frozen=True)
class Grant:
    """A slot: ``booked`` at ``at``, or refused and the earliest slot would have been ``at``."""

    at: float
    booked: bool


@dataclass
class _Row:
    next_at: float = 0.0
    owner: str = ""
    recent: list[float] | None = None
    dirty: bool = False


def grant_slots(
    db: Database,
    owner: str,
    now: float,
    budget: Budget,
    requests: Sequence[SlotRequest],
    pauses: Iterable[tuple[str, float]] = (),
) -> list[Grant]:
    """Book a slot for each request (in order) and apply ``pauses`` (address, until) first."""
    with db.write() as session:
        rows = _lock_rows(session, {r.address for r in requests if r.address} | {a for a, _ in pauses})
        for address, until in pauses:
            row = rows.setdefault(address, _Row())
            if until > row.next_at:
                row.next_at, row.dirty = until, True
        grants = [_grant(rows, owner, now, budget, request) for request in requests]
        _store(session, rows)
    return grants


def forget_idle(db: Database, before: float) -> int:
    """Delete the rows of chats whose schedule ended before ``before``; return how many."""
    with db.write() as session:
        result = session.connection().execute(
            delete(_TABLE).where(_TABLE.c.key != BOT, _TABLE.c.next_at < before)
        )
        return int(result.rowcount or 0)


def _lock_rows(session: Session, addresses: set[str]) -> dict[str, _Row]:
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    insert = pg_insert if postgres else sqlite_insert
    # The bot's row exists and is locked first: every grant transaction queues on it, so the
    # chats' rows are never locked in two orders (no deadlock). SQLite's write lock does the same.
    conn.execute(
        insert(_TABLE)
        .values(key=BOT, next_at=0.0, owner="", recent=[])
        .on_conflict_do_nothing(index_elements=["key"])
    )
    keys = [BOT, *sorted(addresses)]
    statement = select(_TABLE.c.key, _TABLE.c.next_at, _TABLE.c.owner, _TABLE.c.recent).where(
        _TABLE.c.key.in_(keys)
    )
    if postgres:
        bot_row = conn.execute(statement.where(_TABLE.c.key == BOT).with_for_update()).one()
        found = [bot_row, *conn.execute(statement.where(_TABLE.c.key != BOT).with_for_update()).all()]
    else:
        found = list(conn.execute(statement).all())
    return {r.key: _Row(float(r.next_at), r.owner, list(r.recent or [])) for r in found}


def _grant(rows: dict[str, _Row], owner: str, now: float, budget: Budget, request: SlotRequest) -> Grant:
    bot = rows.setdefault(BOT, _Row())
    at = now
    chat = rows.setdefault(request.address, _Row()) if request.address else None
    if chat is not None:
        at = max(at, _after(chat, owner, budget))
        if request.group:
            recent = [t for t in chat.recent or [] if t > at - budget.group_window]
            if len(recent) >= budget.group_limit:
                at = max(at, recent[-budget.group_limit] + budget.group_window)
    booked = [t for t in bot.recent or [] if t > now - 1.0]
    at = _free_slot(booked, at, budget.global_interval)
    if at - now > request.max_wait:
        return Grant(at, booked=False)
    bisect.insort(booked, at)
    bot.recent, bot.next_at, bot.owner, bot.dirty = booked, max(bot.next_at, at), owner, True
    if chat is not None:
        chat.next_at, chat.owner, chat.dirty = at + budget.chat_interval, owner, True
        if request.group:
            window = [t for t in chat.recent or [] if t > at - budget.group_window]
            chat.recent = [*window, at][-budget.group_limit :]
    return Grant(at, booked=True)


def _free_slot(booked: list[float], earliest: float, interval: float) -> float:
    """Return the first time from ``earliest`` at least ``interval`` from every ``booked`` slot.

    The bot's slots are a set, not a pointer: a message held back by its chat's own limit takes a
    slot later on, and the gaps before it stay free for other chats.
    """
    at = earliest
    for slot in booked[max(0, bisect.bisect_left(booked, earliest - interval) - 1) :]:
        if slot + interval <= at:
            continue
        if slot - interval >= at:
            break
        at = slot + interval
    return at


def _after(row: _Row, owner: str, budget: Budget) -> float:
    """Earliest next slot of a chat for ``owner``: with the hand-over gap after another worker."""
    if row.owner and row.owner != owner:
        return row.next_at + budget.handoff
    return row.next_at


def _store(session: Session, rows: dict[str, _Row]) -> None:
    values = [
        {"key": key, "next_at": row.next_at, "owner": row.owner[:64], "recent": row.recent or []}
        for key, row in rows.items()
        if row.dirty
    ]
    if not values:
        return
    conn = session.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(_TABLE)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "next_at": statement.excluded.next_at,
                "owner": statement.excluded.owner,
                "recent": statement.excluded.recent,
            },
        ),
        values,
    )
