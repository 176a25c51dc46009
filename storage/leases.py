"""Leader leases: at most one holder of a named job across every worker sharing the database.

A lease is a row ``(name, holder, expires_at)``. ``try_lead`` takes it when it is free or
expired, or renews it for its current holder, in one atomic upsert, so two workers asking at the
same moment can never both get it. Times come from the callers' clocks: workers on several hosts
need synchronised clocks (NTP), far tighter than the lease's seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Database
from storage.tables import LeaderLease

_T = LeaderLease.__table__  # type: ignore[attr-defined]


def try_lead(db: Database, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``; return True if held.

    Raises:
        StorageError: when the database fails (the caller keeps leading only until its lease ends).
    """
    insert = postgresql.insert(_T) if not db.is_sqlite else sqlite.insert(_T)
    values = {"name": name, "holder": holder, "acquired_at": now, "expires_at": now + ttl}
    statement = (
        insert.values(**values)
        .on_conflict_do_update(
            index_elements=["name"],
            set_={
                "holder": insert.excluded.holder,
                "expires_at": insert.excluded.expires_at,
                # A renewal keeps the time the lease was first taken; a take-over restarts it.
                "acquired_at": case(
                    (_T.c.holder == insert.excluded.holder, _T.c.acquired_at),
                    else_=insert.excluded.acquired_at,
                ),
            },
            where=(_T.c.holder == insert.excluded.holder) | (_T.c.expires_at <= insert.excluded.acquired_at),
        )
        .returning(_T.c.holder)
    )
    with db.write() as session:
        row = session.connection().execute(statement).first()
    return row is not None and row[0] == holder


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up now (a clean shutdown), so a standby takes over without waiting."""
    with db.write() as session:
        session.connection().execute(delete(_T).where(_T.c.name == name, _T.c.holder == holder))


def holder_of(db: Database, name: str, now: datetime) -> str | None:
    """Return who holds the lease ``name`` at ``now`` (None when free or expired)."""
    with db.read() as session:
        row = (
            session.connection()
            .execute(select(_T.c.holder, _T.c.expires_at).where(_T.c.name == name))
            .first()
        )
    if row is None or row.expires_at <= now:
        return None
    return str(row.holder)
