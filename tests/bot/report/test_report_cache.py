"""The report's cache of closed weeks (storage/report_cache.py) never changes a figure.

Every figure equals the independent recomputation from the raw rows (tests/bot/report/recompute.py)
without the cache, with it cold and warm, after an erasure, after comments past retention and after
late answers and comments stored into cached weeks; triggers drop exactly the weeks changed; two
workers building one week count it once; a build waits for answers in flight. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, delete, func, select, text
from structlog.testing import capture_logs

from bot.privacy.erase import delete_old_comments, forget_customer
from bot.report.export import WHATS, export_rows
from bot.report.render_data import render_json
from flows.journey import load_journey
from flows.report import build_report, stage_refs, week_bounds_utc, week_of
from storage import migrate, repo, report_cache
from storage.db import Database
from storage.report_cache import (
    CACHE,
    RESPONSES,
    SCORES,
    SEGMENTS,
    TOPICS,
    CacheUse,
    answer_counts,
    count_parts,
    read_cached,
)
from storage.report_queries import load_report_inputs, weekly_report
from tests.bot.report.demo import copy_to_postgres
from tests.bot.report.recompute import JOURNEY, differences, recompute
from tests.conftest import drop_pg_database, make_pg_database

TZ = "Europe/Rome"
WEEKS = ["2026-W46", "2026-W47", "2026-W48"]
#: Every week these reports read has ended by then.
NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
STAGES = stage_refs(load_journey(JOURNEY).stages)


def _clear_cache(db: Database) -> None:
    with db.write() as session:
        session.connection().execute(delete(CACHE))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_db(request: pytest.FixtureRequest, demo_file: Path, tmp_path: Path) -> Iterator[Database]:
    """A private copy of the demo's data, its report cache empty: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        copy = tmp_path / "demo.db"
        shutil.copyfile(demo_file, copy)
        db = Database(f"sqlite:///{copy}")
        _clear_cache(db)
        yield db
        db.dispose()
        return
    admin_url = request.getfixturevalue("pg_server")
    url, name = make_pg_database(admin_url)
    try:
        copy_to_postgres(demo_file, url)
        db = Database(url)
        _clear_cache(db)
        yield db
        db.dispose()
    finally:
        drop_pg_database(admin_url, name)


def _exported(db: Database) -> dict[str, list[dict[str, Any]]]:
    """The raw rows ``cxbot export --what`` writes, as read back from its JSON lines."""
    return {what: json.loads(json.dumps(list(export_rows(db, what)[0]))) for what in WHATS}


def _report(db: Database, week: str, *, cache: bool = True) -> tuple[dict[str, Any], CacheUse | None]:
    """The JSON report of ``week`` (every cell shown) and what it did with the cache."""
    uses: list[CacheUse] = []
    with db.read_engine.connect() as conn:
        if cache:
            report = weekly_report(
                conn, now=NOW, timezone=TZ, stages=STAGES, week=week, min_n=1, on_cache=uses.append
            )
        else:
            raw = load_report_inputs(conn, week, timezone=TZ, stages=STAGES, cache=False)
            report = build_report(raw, min_n=1, now=NOW)
    return json.loads(render_json(report)), (uses[0] if uses else None)


def _checked(db: Database, *, cache: bool = True) -> list[CacheUse | None]:
    """Report each of WEEKS, compare every figure with the recomputation; return the cache uses."""
    data = _exported(db)
    problems: list[str] = []
    uses = []
    for week in WEEKS:
        report, use = _report(db, week, cache=cache)
        found, compared = differences(report, recompute(data, week, TZ, 1))
        assert compared > 1000
        problems += [f"{week}: {p}" for p in found]
        uses.append(use)
    assert problems == [], "\n".join(problems[:30])
    return uses


def _complaints(db: Database, week: str, topic: str) -> int:
    """Negative answers of ``week`` about ``topic``, as the report's inputs count them (all stages)."""
    with db.read_engine.connect() as conn:
        raw = load_report_inputs(conn, week, timezone=TZ, stages=STAGES, now=NOW)
    return sum(t.count for t in raw.topics if (t.week, t.topic, t.band) == (week, topic, "negative"))


def _cached(db: Database) -> set[str]:
    c = CACHE.c
    with db.read() as session:
        rows = session.connection().execute(select(c.week).where(c.kind == "built", c.timezone == TZ))
        return {str(week) for (week,) in rows}


def _week(at: datetime) -> str:
    return week_of(at, TZ)


def _in_week(week: str, hours: float = 30) -> datetime:
    return week_bounds_utc(week, TZ)[0] + timedelta(hours=hours)


def test_cache_keeps_every_figure_through_erasure_retention_and_late_answers(demo_db: Database) -> None:
    """Without cache, cold, warm, after forget, retention, a late score, comment and reply: all recomputed."""
    db = demo_db
    _checked(db, cache=False)
    assert _cached(db) == set()

    cold = _checked(db)
    assert cold[0] is not None and len(cold[0].built) == 11 and cold[0].counted == []
    inputs = _cached(db)  # the 11 weeks of W46's report, and W47, W48 after it
    assert {"2026-W36", "2026-W46", "2026-W47", "2026-W48"} <= inputs and len(inputs) == 13
    report, _ = _report(db, "2026-W47")
    works = next(s for s in report["stage_themes"] if s["works"])
    assert any(s["struggles"] for s in report["stage_themes"])
    works["works"][0]["count"] += 1  # the comparison would see a wrong praise count
    assert differences(report, recompute(_exported(db), "2026-W47", TZ, 1))[0] != []
    warm = _checked(db)
    assert all(use is not None and use.built == [] and use.counted == [] for use in warm)
    assert all(use is not None and len(use.reused) == 11 for use in warm)

    # forget: the customer's comments go (the figures that count typed words change)
    with db.read() as session:
        r = RESPONSES.c
        start, end = week_bounds_utc("2026-W47", TZ)
        customer, answered = (
            session.connection()
            .execute(
                select(r.customer_id, r.answered_at)
                .where(r.answered_at >= start, r.answered_at < end, r.score.is_not(None))
                .where(r.comment.is_not(None), func.length(r.comment) > 3, r.customer_id.is_not(None))
                .order_by(r.id)
                .limit(1)
            )
            .one()
        )
        their_answers = select(r.answered_at).where(r.customer_id == customer)
        theirs = {_week(at) for (at,) in session.connection().execute(their_answers)}
    forget_customer(db, customer, NOW)
    assert _week(answered) == "2026-W47" and "2026-W47" in theirs
    assert _cached(db) == inputs - theirs  # exactly the weeks they had answers in
    after_forget = _checked(db)
    assert "2026-W47" in after_forget[1].built  # type: ignore[union-attr]

    # retention: comments of the weeks before W47 cleared
    assert delete_old_comments(db, week_bounds_utc("2026-W47", TZ)[0], NOW) > 0
    assert {"2026-W47", "2026-W48"} <= _cached(db) and "2026-W46" not in _cached(db)
    _checked(db)

    # late: a score stored into W46, a reply to an expired question (no score) into W48, and a
    # comment added to an answer of W47 — through the storage calls the service makes
    assert _cached(db) >= set(WEEKS)
    before = {week: _report(db, week)[0] for week in WEEKS}
    damaged_before = _complaints(db, "2026-W48", "damaged")
    with db.read() as session:
        r = RESPONSES.c
        start, end = week_bounds_utc("2026-W47", TZ)
        earlier = (
            session.connection()
            .execute(
                select(r.id)
                .where(r.answered_at >= start, r.answered_at < end, r.score.is_not(None), r.comment.is_(None))
                .order_by(r.id)
            )
            .first()
        )
        assert earlier is not None
    with db.write() as session:
        repo.store_score(
            session,
            {"survey_id": None, "stage": "delivered", "metric": "csat", "score": 1, "language": "it",
             "channel": "telegram", "answered_at": _in_week("2026-W46")},
        )  # fmt: skip
        repo.insert_response(
            session,
            {"stage": "delivered", "metric": "csat", "language": "en", "channel": "telegram",
             "answered_at": _in_week("2026-W48"), "comment": "box crushed", "negative": True,
             "topics": ["damaged"], "late": True, "commented_at": _in_week("2026-W48")},
        )  # fmt: skip
        repo.update_response(session, earlier.id, {"comment": "fast, well packed", "commented_at": NOW})
    assert _cached(db) & set(WEEKS) == set()
    late = _checked(db)
    assert [week in use.built for week, use in zip(WEEKS, late, strict=True) if use] == [True] * 3
    after = {week: _report(db, week)[0] for week in WEEKS}

    def moved(week: str, *path: str) -> int:
        old: Any = before[week]
        new: Any = after[week]
        for key in path:
            old, new = old[key], new[key]
        return int(new) - int(old)

    assert moved("2026-W46", "funnel", "overall", "responses") == 1
    assert moved("2026-W47", "funnel", "overall", "commented") == 1
    assert _complaints(db, "2026-W48", "damaged") == damaged_before + 1


# ---------------------------------------------------------------------------------------------
# Small hand-made weeks: triggers and concurrency


W = "2026-W47"
CLOSED = ["2026-W45", "2026-W46", "2026-W47"]
OPEN_WEEK = "2026-W48"


def _answers(week: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    base = week_bounds_utc(week, TZ)[0]
    return [
        {"stage": "delivered", "metric": "csat", "score": 1 + (start + i) % 5, "late": False,
         "comment": "ok" if i % 3 else None, "negative": i % 7 == 0, "language": "it", "channel": "telegram",
         "topics": ["late_delivery"] if i % 4 == 0 else [], "answered_at": base + timedelta(minutes=37 * i)}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def small_db(db: Database) -> Database:
    """A migrated database with 60 answers in each of three closed weeks and the open one."""
    with db.write() as session:
        session.connection().execute(
            RESPONSES.insert(), [row for week in [*CLOSED, OPEN_WEEK] for row in _answers(week, 60)]
        )
    return db


#: Every part of a week the report can count.
ALL = {SCORES, SEGMENTS, TOPICS}


def _build(db: Database, weeks: list[str], now: datetime = NOW) -> CacheUse:
    with db.read_engine.connect() as conn:
        return answer_counts(conn, dict.fromkeys(weeks, ALL), TZ, now=now)[1]


def _comparable(parts: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[str]]]:
    return {
        w: {part: sorted(map(repr, groups)) for part, groups in found.items()} for w, found in parts.items()
    }


def _live(db: Database, weeks: list[str]) -> dict[str, dict[str, list[str]]]:
    with db.read_engine.connect() as conn:
        return _comparable(count_parts(conn, dict.fromkeys(weeks, ALL), TZ))


def _from_cache(db: Database, weeks: list[str]) -> dict[str, dict[str, list[str]]]:
    with db.read_engine.connect() as conn:
        return _comparable(read_cached(conn, weeks, TZ))


def test_only_weeks_ended_by_now_are_stored(small_db: Database) -> None:
    """A report stores the weeks ended by its time, counts the open one, and reads them back as counted."""
    now = week_bounds_utc(OPEN_WEEK, TZ)[0] + timedelta(days=2)
    use = _build(small_db, [*CLOSED, OPEN_WEEK], now)
    assert use.built == CLOSED and use.counted == [OPEN_WEEK]
    assert _cached_weeks(small_db) == set(CLOSED)
    assert _from_cache(small_db, CLOSED) == _live(small_db, CLOSED)
    again = _build(small_db, [*CLOSED, OPEN_WEEK], now)
    assert again.reused == CLOSED and again.built == [] and again.counted == [OPEN_WEEK]


def _cached_weeks(db: Database) -> set[str]:
    with db.read() as session:
        rows = session.connection().execute(select(CACHE.c.week).where(CACHE.c.kind == "built"))
        return {str(w) for (w,) in rows}


def test_triggers_drop_exactly_the_week_written(small_db: Database) -> None:
    """An insert, an update (old and new week) and a delete drop the cached weeks they touch, no other."""
    db = small_db
    _build(db, CLOSED)
    with db.write() as session:
        session.connection().execute(RESPONSES.insert(), _answers(OPEN_WEEK, 1, start=3))
    assert _cached_weeks(db) == set(CLOSED)  # an answer of the open week drops nothing
    with db.write() as session:
        session.connection().execute(RESPONSES.insert(), _answers("2026-W46", 1, start=2))
    assert _cached_weeks(db) == {"2026-W45", "2026-W47"}
    _build(db, CLOSED)
    r = RESPONSES.c
    with db.read() as session:
        first_of = {
            week: session.connection()
            .execute(select(func.min(r.id)).where(r.answered_at >= start, r.answered_at < end))
            .scalar_one()
            for week in CLOSED
            for start, end in [week_bounds_utc(week, TZ)]
        }
    with db.write() as session:  # moved from W45 into W47: both weeks change
        session.connection().execute(
            RESPONSES.update().where(r.id == first_of["2026-W45"]).values(answered_at=_in_week("2026-W47"))
        )
    assert _cached_weeks(db) == {"2026-W46"}
    _build(db, CLOSED)
    with db.write() as session:
        session.connection().execute(RESPONSES.delete().where(r.id == first_of["2026-W46"]))
    assert _cached_weeks(db) == {"2026-W45", "2026-W47"}
    _build(db, CLOSED)
    assert _from_cache(db, CLOSED) == _live(db, CLOSED)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_two_builders_of_a_week_on_sqlite_count_it_once(small_db: Database) -> None:
    """Two workers reporting at once on SQLite: one builds, the other waits; the cache holds one count."""
    barrier = threading.Barrier(2)
    uses: list[CacheUse] = []

    def worker() -> None:
        with small_db.read_engine.connect() as conn:
            barrier.wait()
            uses.append(answer_counts(conn, dict.fromkeys(CLOSED, ALL), TZ, now=NOW)[1])

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(uses) == 2 and all(use.failed is None for use in uses)
    assert _from_cache(small_db, CLOSED) == _live(small_db, CLOSED)


def _pg_waiting(db: Database) -> int:
    """Return how many other sessions of this database wait for a lock."""
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )


def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _stored_answers(db: Database, week: str) -> int:
    """Return how many scores the cache holds for ``week`` (its ``built`` row of the scores part)."""
    c = CACHE.c
    with db.read() as session:
        found = select(c.answers).where(c.week == week, c.kind == "built", c.part == SCORES)
        return int(session.connection().execute(found).scalar_one())


def _in_thread(target: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(target()))
    thread.start()
    return thread, out


def _racing(db: Database, hold: Any, other: Any) -> Any:
    """Run ``hold(conn)`` in a transaction left open, start ``other()`` in a thread, commit once it
    waits for a lock of ours, and return what it returned."""
    with db.engine.connect() as conn:
        conn.begin()
        hold(conn)
        thread, result = _in_thread(other)
        _until(lambda: _pg_waiting(db) == 1)
        conn.commit()
    thread.join(30)
    assert result
    return result[0]


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_two_builders_of_a_week_on_postgresql_count_it_once(small_db: Database) -> None:
    """The second of two concurrent builds waits on the first's rows and upserts the same counts."""
    db = small_db
    built_first: list[Any] = []

    def first(conn: Any) -> None:  # stored, not committed yet
        built_first.append(report_cache.refresh(conn, {W: ALL}, TZ, NOW))

    def second() -> Any:  # it sees no cached week, counts, and waits on the first's rows
        with db.engine.connect() as conn, conn.begin():
            return report_cache.refresh(conn, {W: ALL}, TZ, NOW)

    assert set(_racing(db, first, second)) == {W} and set(built_first[0]) == {W}
    assert _from_cache(db, [W]) == _live(db, [W])  # counted once, not twice
    assert _stored_answers(db, W) == 60


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_build_waits_for_an_answer_in_flight(small_db: Database) -> None:
    """An answer stored into a closed week while a build starts is in the cached counts."""
    db = small_db

    def answer(conn: Any) -> None:  # in flight: not committed
        conn.execute(RESPONSES.insert(), _answers(W, 1, start=4))

    assert _racing(db, answer, lambda: _build(db, [W])).built == [W]  # the build waited for it
    assert _from_cache(db, [W]) == _live(db, [W])
    assert _stored_answers(db, W) == 61


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_build_that_cannot_wait_counts_instead(small_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers holding on past the lock timeout: the weeks are counted (right figures), logged, not stored."""
    db = small_db
    monkeypatch.setattr(report_cache, "LOCK_TIMEOUT_MS", 100)
    with db.engine.connect() as writer:
        writer.begin()
        writer.execute(RESPONSES.insert(), _answers(W, 1, start=4))
        with capture_logs() as logs:
            use = _build(db, [W])
        writer.rollback()
    assert use.failed == "LockNotAvailable" and use.counted == [W] and use.built == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["report_cache_not_stored"]
    assert _cached_weeks(db) == set()


def test_a_connection_in_a_transaction_is_read_not_written(small_db: Database) -> None:
    """Inside the caller's transaction the report counts closed weeks but stores nothing."""
    with small_db.read_engine.connect() as conn:
        conn.execute(select(1))  # the caller's transaction
        counts, use = answer_counts(conn, dict.fromkeys(CLOSED, ALL), TZ, now=NOW)
    assert use.counted == CLOSED and use.built == [] and _cached_weeks(small_db) == set()
    live = _live(small_db, CLOSED)
    assert {w: sorted(map(repr, c.topics)) for w, c in counts.items()} == {
        w: p[TOPICS] for w, p in live.items()
    }


def test_migration_creates_and_removes_the_triggers(tmp_path: Path) -> None:
    """Upgrading to 0015 makes writes drop cached weeks; downgrading removes table and triggers."""
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(db)
    with db.read_engine.connect() as conn:
        names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars().all()
    assert sorted(names) == [f"report_cache_drop_weeks_{op}" for op in ("delete", "insert", "update")]
    command.downgrade(migrate.alembic_config(db), "0014")
    db.dispose()
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE 'report_cache%'").all()
    engine.dispose()
    assert left == []


def test_report_command_counts_its_use_of_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cxbot report`` counts the weeks it stored, then, run again, the weeks it reused (Prometheus)."""
    from bot.cli._weekly_report import build_weekly_report
    from bot.observability.metrics import REGISTRY

    monkeypatch.chdir(tmp_path)  # no .env of the checkout is read
    monkeypatch.setenv("CXBOT_COMPANY_TIMEZONE", TZ)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = Database(url)
    migrate.upgrade(db)
    with db.write() as session:
        session.connection().execute(RESPONSES.insert(), _answers("2026-W46", 40))
    db.dispose()

    def weeks(outcome: str) -> float:
        return REGISTRY.get_sample_value("cxbot_report_cache_weeks_total", {"outcome": outcome}) or 0.0

    before = {outcome: weeks(outcome) for outcome in ("built", "reused")}
    first = build_weekly_report(url, week="2026-W46", now=NOW, min_n=1)
    assert weeks("built") - before["built"] == 11 and weeks("reused") == before["reused"]
    second = build_weekly_report(url, week="2026-W46", now=NOW, min_n=1)
    assert weeks("reused") - before["reused"] == 11 and weeks("built") - before["built"] == 11
    assert second.model_copy(update={"generated_at": None}) == first.model_copy(update={"generated_at": None})
    assert first.total_answers == 40
