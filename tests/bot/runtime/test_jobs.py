"""Once-per-period jobs across workers."""

from __future__ import annotations

from datetime import timedelta

from bot.runtime.jobs import claim_period, run_once
from flows.journey import Journey
from storage.db import Database
from tests.clocks import FakeClock


def test_only_one_worker_runs_a_period(db: Database, clock: FakeClock) -> None:
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


def test_unfinished_run_is_retaken_after_it_goes_stale(db: Database, clock: FakeClock) -> None:
    """A run whose worker died (never finished) is retaken after stale_after, not before."""
    assert claim_period(db, "retention", "2026-11-17", clock.now, worker="a", stale_after=timedelta(hours=1))
    later = clock.now + timedelta(minutes=30)
    assert not claim_period(db, "retention", "2026-11-17", later, worker="b", stale_after=timedelta(hours=1))
    much_later = clock.now + timedelta(hours=2)
    assert claim_period(db, "retention", "2026-11-17", much_later, worker="b", stale_after=timedelta(hours=1))


def test_run_once_runs_work_once(db: Database, clock: FakeClock) -> None:
    """run_once calls the work for the winner only and records its detail."""
    calls: list[int] = []

    def work() -> dict[str, int]:
        calls.append(1)
        return {"sent": 3}

    assert run_once(db, "job", "p1", clock.now, work) == {"sent": 3}
    assert run_once(db, "job", "p1", clock.now, work) is None
    assert calls == [1]


def test_weekly_summary_sent_once_per_week_to_each_manager(
    db: Database, journey: Journey, clock: FakeClock
) -> None:
    """After Monday 09:00 the last week's summary (HTML text and chart) is queued once for each manager."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from bot.engine.service import Service
    from bot.engine.wiring import App
    from bot.infra.settings import Settings
    from bot.runtime.jobs import summary_due, weekly_summary_job
    from storage.tables import OutboxMessage

    settings = Settings(manager_chat_ids=[111, 222], report_language="en")
    app = App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=clock))
    monday_early = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)  # 08:30 in Rome
    assert not summary_due(monday_early, "Europe/Rome")
    assert weekly_summary_job(app, monday_early) is None
    detail = weekly_summary_job(app, clock.now)
    assert detail is not None and detail["week"] == "2026-W46" and detail["chats"] == 2
    assert weekly_summary_job(app, clock.now) is None  # once, even if a second worker ticks
    with db.read() as session:
        queued = list(session.exec(select(OutboxMessage)))
    assert {m.address for m in queued} == {"111", "222"}
    kinds = sorted(m.kind for m in queued if m.address == "111")
    assert kinds.count("photo") == 1 and "html" in kinds
    text = next(m.payload["text"] for m in queued if m.kind == "html")
    assert "2026-W46" in text
