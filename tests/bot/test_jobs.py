"""Once-per-period jobs across workers."""

from __future__ import annotations

from datetime import timedelta

from bot.jobs import claim_period, run_once
from storage.db import Database


def test_only_one_worker_runs_a_period(db: Database, clock):
    """Two workers claiming the same (job, period): exactly one wins; the next period is claimable again."""
    assert claim_period(
        db, "weekly_report", "2026-W47", clock.now, worker="a", stale_after=timedelta(hours=1)
    )
    assert not claim_period(
        db, "weekly_report", "2026-W47", clock.now, worker="b", stale_after=timedelta(hours=1)
    )
    assert claim_period(
        db, "weekly_report", "2026-W48", clock.now, worker="b", stale_after=timedelta(hours=1)
    )


def test_unfinished_run_is_retaken_after_it_goes_stale(db: Database, clock):
    """A run whose worker died (never finished) is retaken after stale_after, not before."""
    assert claim_period(db, "retention", "2026-11-17", clock.now, worker="a", stale_after=timedelta(hours=1))
    later = clock.now + timedelta(minutes=30)
    assert not claim_period(db, "retention", "2026-11-17", later, worker="b", stale_after=timedelta(hours=1))
    much_later = clock.now + timedelta(hours=2)
    assert claim_period(db, "retention", "2026-11-17", much_later, worker="b", stale_after=timedelta(hours=1))


def test_run_once_runs_work_once(db: Database, clock):
    """run_once calls the work for the winner only and records its detail."""
    calls = []

    def work():
        calls.append(1)
        return {"sent": 3}

    assert run_once(db, "job", "p1", clock.now, work) == {"sent": 3}
    assert run_once(db, "job", "p1", clock.now, work) is None
    assert calls == [1]
