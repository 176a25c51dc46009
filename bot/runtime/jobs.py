"""Once-per-period jobs shared by several workers: the first to claim ``(job, period)`` runs it.

The claim is an ``INSERT … ON CONFLICT DO NOTHING`` into ``job_runs``; only the inserting worker
runs the job, so a weekly summary or a daily retention pass happens once however many workers
there are, and a worker that was down catches up on its next tick (the period is still unclaimed).
A worker that dies mid-job leaves ``finished_at`` empty; after ``stale_after`` another may retake it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from bot.infra.leader import WORKER_ID
from storage import job_runs, repo
from storage.db import Database

if TYPE_CHECKING:
    from bot.engine.wiring import App

log = structlog.get_logger(__name__)


def claim_period(
    db: Database, job: str, period: str, now: datetime, *, worker: str = WORKER_ID, stale_after: timedelta
) -> bool:
    """Return True when this worker won ``(job, period)`` and must run it now (or retakes a run
    whose worker died before finishing)."""
    return job_runs.claim(db, job, period, now, worker, stale_after)


def finish_period(db: Database, job: str, period: str, now: datetime, detail: dict[str, Any]) -> None:
    """Record that ``(job, period)`` finished, with a small JSON detail."""
    job_runs.finish(db, job, period, now, detail)


def run_once(
    db: Database,
    job: str,
    period: str,
    now: datetime,
    work: Callable[[], dict[str, Any]],
    *,
    stale_after: timedelta = timedelta(hours=1),
) -> dict[str, Any] | None:
    """Run ``work`` if this worker wins ``(job, period)``; return its detail, or None when not run."""
    if not claim_period(db, job, period, now, stale_after=stale_after):
        return None
    detail = work()
    finish_period(db, job, period, now, detail)
    log.info("job_done", job=job, period=period, **{k: v for k, v in detail.items() if isinstance(v, int)})
    return detail


def retention_pass(
    db: Database, now: datetime, months: int, *, connector_days: int = 0
) -> dict[str, Any] | None:
    """Once per day across workers: delete comments older than ``months`` and erase the raw
    connector bodies older than ``connector_days`` (0 keeps either); None when not run here."""
    from bot.privacy.erase import delete_old_comments
    from storage.erasure import erase_old_bodies

    if months <= 0 and connector_days <= 0:
        return None

    def work() -> dict[str, Any]:
        detail: dict[str, Any] = {}
        if months > 0:
            cutoff = now - timedelta(days=round(months * 30.44))
            detail["comments_deleted"] = delete_old_comments(db, cutoff, now)
        if connector_days > 0:
            detail["connector_bodies_erased"] = erase_old_bodies(db, now - timedelta(days=connector_days))
        return detail

    return run_once(db, "retention", now.date().isoformat(), now, work)


def summary_due(now: datetime, timezone: str, weekday: int = 0, at_hour: int = 9) -> bool:
    """Return True once this week's sending time (default Monday 09:00 company time) has passed.

    Catching up after downtime is automatic: the whole rest of the week counts as due, and the
    ``(weekly_report, week)`` claim makes sure it is sent once.
    """
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(timezone))
    return (local.weekday(), local.hour) >= (weekday, at_hour)


def weekly_summary_job(app: App, now: datetime) -> dict[str, Any] | None:
    """Send last week's summary to CXBOT_MANAGER_CHAT_IDS once per week across workers.

    The text goes as Telegram HTML messages and the chart as a photo, through the outbox (so
    retries, rate limits and crash safety are the sender's). Returns the job detail, or None
    when it was not this worker's turn (or nothing is due).
    """
    import base64

    from bot.report import render
    from bot.report.cache_use import count_cache_use
    from bot.report.render_text import render_text
    from flows.report import stage_refs
    from storage.report_queries import last_complete_week, weekly_report

    settings = app.settings
    tz = settings.company_timezone
    if not settings.manager_chat_ids or not summary_due(now, tz):
        return None
    week = last_complete_week(now, tz)

    def send() -> dict[str, Any]:
        with app.db.read_engine.connect() as conn:
            report = weekly_report(
                conn,
                now=now,
                timezone=tz,
                stages=stage_refs(app.journey.stages),
                week=week,
                language=settings.report_language,
                on_cache=count_cache_use,
            )
        chunks = render_text(report)
        chart = base64.b64encode(render(report, "png")).decode()
        with app.db.write() as session:
            for chat in settings.manager_chat_ids:
                for index, chunk in enumerate(chunks):
                    repo.enqueue_message(
                        session,
                        channel="telegram",
                        address=str(chat),
                        kind="html",
                        payload={"text": chunk},
                        now=now,
                        dedupe_key=f"weekly:{week}:{chat}:{index}",
                    )
                repo.enqueue_message(
                    session,
                    channel="telegram",
                    address=str(chat),
                    kind="photo",
                    payload={"png": chart, "caption": f"cxbot {week}", "filename": f"cxbot-{week}.png"},
                    now=now,
                    dedupe_key=f"weekly:{week}:{chat}:chart",
                )
        return {"week": week, "chats": len(settings.manager_chat_ids), "messages": len(chunks) + 1}

    return run_once(app.db, "weekly_report", week, now, send, stale_after=timedelta(minutes=30))
