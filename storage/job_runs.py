"""Periodic jobs run once per period across workers: ``(job, period)`` claimed in ``job_runs``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from storage import repo
from storage.db import Database
from storage.tables import JobRun

_T = JobRun.__table__  # type: ignore[attr-defined]  # SQLModel's metaclass does not declare __table__


def claim(db: Database, job: str, period: str, now: datetime, worker: str, stale_after: timedelta) -> bool:
    """Return True when ``worker`` won ``(job, period)``: first to claim it, or retaking a run whose
    worker died (unfinished and started more than ``stale_after`` ago)."""
    with db.write() as session:
        won = repo.insert_or_ignore(
            session,
            JobRun,
            {"job": job, "period": period, "worker": worker, "started_at": now, "detail": {}},
            ["job", "period"],
        )
        if won:
            return True
        taken = session.connection().execute(
            update(_T)
            .where(
                _T.c.job == job,
                _T.c.period == period,
                _T.c.finished_at.is_(None),
                _T.c.started_at < now - stale_after,
            )
            .values(worker=worker, started_at=now)
        )
        return bool(taken.rowcount)


def finish(db: Database, job: str, period: str, now: datetime, detail: dict[str, Any]) -> None:
    """Record that ``(job, period)`` finished, with a small JSON detail."""
    with db.write() as session:
        session.connection().execute(
            update(_T).where(_T.c.job == job, _T.c.period == period).values(finished_at=now, detail=detail)
        )


def last_finished(db: Database, job: str) -> tuple[str, datetime | None] | None:
    """Return the newest period of ``job`` and when it finished (None: never claimed)."""
    with db.read() as session:
        row = (
            session.connection()
            .execute(
                select(_T.c.period, _T.c.finished_at).where(_T.c.job == job).order_by(_T.c.period.desc())
            )
            .first()
        )
    return (row[0], row[1]) if row else None
