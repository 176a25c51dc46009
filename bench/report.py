"""Benchmark: the weekly report's cost against one plain aggregate pass over the same responses.

    .venv/bin/python bench/report.py [--rows 1000000] [--weeks 11] [--backends sqlite,postgresql]

Inserts ``--rows`` responses in time order, as a live table grows (bulk: executemany on SQLite,
COPY on PostgreSQL, the report cache's triggers off meanwhile), spread over the ``--weeks`` weeks
ending with the report week (11 = every row is inside the span the report reads: the worst case;
52 = a year of history), plus 1 % escalations. Then times, in the same database:

- plain:  SELECT stage, metric, count(*), avg(score) FROM responses GROUP BY 1, 2
- report: storage.report_queries.load_report_inputs + flows.report.build_report, on the Tuesday
  after the report week (every week it reads has ended, as for the Monday summary):
  cold — the report cache emptied first, so the report counts its 11 weeks and stores them;
  warm — the next report, reading those weeks from the cache (the second and later runs);
  next Monday — last week's report ran a week ago (its weeks cached): this one counts its own week;
  in progress — the report of the week still running (it counts that week, the 10 before cached).

and prints them (best of ``--repeat``, taking turns so all meet the same load on the machine) with
their ratio to the plain pass (goal: warm ≤ 2×), then where the report's time goes in its best warm
and cold runs: answers (read from the cache and/or counted, storing included), scores and topics
(summed from those in Python), funnel, verbatims, escalations ("other" is the glue) and
``build_report``. SQLite runs in a temporary file; PostgreSQL (``CXBOT_BENCH_PG_URL``, default
postgresql+psycopg://postgres@127.0.0.1:5432/test) in a private schema created and dropped here —
no other table is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from flows.report import StageRef, build_report, shift_week, week_bounds_utc, weeks_ending
from flows.scales import Metric, Sentiment, sentiment
from storage import report_cache, report_cache_triggers, report_queries, tables
from storage.report_queries import load_report_inputs

WEEK = "2026-W47"
TZ = "Europe/Rome"
PG_URL = os.environ.get("CXBOT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STAGES = [
    StageRef(key="order_confirmed", metric=Metric.CES),
    StageRef(key="delivered", metric=Metric.CSAT),
    StageRef(key="first_use", metric=Metric.NPS),
    StageRef(key="ticket_closed", metric=Metric.CES),
    StageRef(key="repurchase", metric=Metric.NPS),
]
TOPICS = ["late_delivery", "damaged", "support", "price", "product_quality", "refund"]
PRAISE = ["fast_delivery", "well_packed", "good_product", "good_value", "helpful_staff"]
#: The Tuesday after the report week: every week the report reads has ended.
NOW = week_bounds_utc(WEEK, TZ)[1] + timedelta(days=1, hours=8)
#: A Friday of the report week: the report of the week in progress counts it and reads the rest.
IN_PROGRESS = week_bounds_utc(WEEK, TZ)[0] + timedelta(days=4, hours=8)
COLUMNS = (
    "stage",
    "metric",
    "score",
    "comment",
    "negative",
    "topics",
    "language",
    "channel",
    "late",
    "answered_at",
)
PLAIN = "SELECT stage, metric, count(*), avg(score) FROM responses GROUP BY 1, 2"
#: The parts of load_report_inputs, timed by wrapping the module's functions (bench only).
PARTS = {
    "answers": "answer_counts",
    "scores": "score_counts",
    "topics": "topic_counts",
    "funnel": "funnel_counts",
    "verbatims": "verbatim_candidates",
    "escalations": "escalation_counts",
}


def _rows(n: int, weeks: int, seed: int = 1) -> Iterator[tuple[Any, ...]]:
    """Yield ``n`` plausible responses spread evenly over ``weeks`` weeks ending with WEEK."""
    rnd = random.Random(seed)
    start = week_bounds_utc(weeks_ending(WEEK, weeks)[0], TZ)[0]
    span = (week_bounds_utc(WEEK, TZ)[1] - start).total_seconds()
    # answers arrive in time order: rows are inserted by answered_at, as in a live table
    offsets = sorted(rnd.random() * span for _ in range(n))
    for i in range(n):
        stage = STAGES[i % len(STAGES)]
        metric = stage.metric
        score = rnd.randint(metric.low, metric.high)
        feeling = sentiment(metric, score)
        negative = feeling is Sentiment.NEGATIVE
        has_comment = rnd.random() < (0.6 if negative else 0.2)
        topics = [rnd.choice(TOPICS)] if negative and has_comment else []
        if feeling is Sentiment.POSITIVE and rnd.random() < 0.3:  # a tapped praise chip
            topics = [rnd.choice(PRAISE)]
        yield (
            stage.key,
            metric.value,
            score,
            f"comment {i}" if has_comment else None,
            negative,
            topics,
            "it" if rnd.random() < 0.65 else "en",
            "telegram" if rnd.random() < 0.9 else "rasa",
            False,
            start + timedelta(seconds=offsets[i]),
        )


def _escalations(n: int) -> list[dict[str, Any]]:
    rnd = random.Random(2)
    start, end = week_bounds_utc(WEEK, TZ)
    out: list[dict[str, Any]] = []
    for i in range(n):
        opened = start - timedelta(days=7) + timedelta(seconds=rnd.random() * 14 * 86400)
        taken = opened + timedelta(hours=rnd.random() * 30) if rnd.random() < 0.9 else None
        resolved = taken + timedelta(hours=rnd.random() * 60) if taken and rnd.random() < 0.8 else None
        out.append(
            {
                "stage": STAGES[i % len(STAGES)].key,
                "priority": "P1" if i % 3 == 0 else "P2",
                "status": "resolved" if resolved else "open",
                "metric": "nps",
                "score": rnd.randint(0, 6),
                "texts": [],
                "topics": [],
                "opened_at": opened,
                "sla_due_at": opened + timedelta(hours=24 if i % 3 == 0 else 48),
                "taken_at": taken,
                "resolved_at": resolved,
                "closing_answer": rnd.choice(["resolved", "not_resolved", None]) if resolved else None,
                "updated_at": end,
            }
        )
    return out


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite format
    if isinstance(value, list):
        return json.dumps(value)
    return value


def _load_sqlite(conn: Connection, rows: Iterator[tuple[Any, ...]]) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    sql = f"INSERT INTO responses ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(_sqlite_value(v) for v in row))
        if len(batch) >= 50_000:
            cursor.executemany(sql, batch)
            batch.clear()
    if batch:
        cursor.executemany(sql, batch)
    cursor.close()


def _load_postgres(conn: Connection, schema: str, rows: Iterator[tuple[Any, ...]]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(f'COPY "{schema}".responses ({", ".join(COLUMNS)}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(tuple(json.dumps(v) if isinstance(v, list) else v for v in row))


@contextmanager
def _timed_parts(spent: dict[str, float]) -> Iterator[None]:
    """Add the seconds spent in each of PARTS to ``spent`` while inside (the module's functions
    are wrapped, so load_report_inputs calls the timed ones)."""
    originals = {name: getattr(report_queries, name) for name in PARTS.values()}

    def timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0

        return wrapper

    for label, name in PARTS.items():
        setattr(report_queries, name, timed(label, originals[name]))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(report_queries, name, fn)


def _report(conn: Connection, spent: dict[str, float], *, week: str = WEEK, now: datetime = NOW) -> float:
    """Return the seconds one weekly report takes (queries and build); add its parts to ``spent``."""
    conn.commit()  # a connection outside a transaction: the report may store the weeks it counts
    t0 = time.perf_counter()
    with _timed_parts(spent):
        raw = load_report_inputs(conn, week, timezone=TZ, stages=STAGES, now=now)
    t1 = time.perf_counter()
    build_report(raw, now=now)
    t2 = time.perf_counter()
    spent["other"] = t1 - t0 - sum(spent.get(part, 0.0) for part in PARTS)
    spent["build"] = t2 - t1
    return t2 - t0


def _forget_cache(conn: Connection) -> None:
    conn.commit()
    conn.execute(delete(report_cache.CACHE))
    conn.commit()


def _measure(conn: Connection, label: str, repeat: int) -> tuple[float, float, float]:
    """Print and return the best plain, warm and cold times (seconds)."""

    def plain() -> float:
        conn.commit()
        t0 = time.perf_counter()
        conn.execute(text(PLAIN)).all()
        return time.perf_counter() - t0

    _forget_cache(conn)
    _report(conn, {})  # warm the database's own caches and check it works
    plains: list[float] = []
    cold: list[tuple[float, dict[str, float]]] = []
    warm: list[tuple[float, dict[str, float]]] = []
    running: list[float] = []
    weekly: list[float] = []
    for _ in range(repeat):  # in turns: a burst of load elsewhere on the machine hits all alike
        plains.append(plain())
        _forget_cache(conn)
        spent: dict[str, float] = {}
        cold.append((_report(conn, spent), spent))
        spent = {}
        warm.append((_report(conn, spent), spent))
        running.append(_report(conn, {}, now=IN_PROGRESS))
        _forget_cache(conn)
        _report(conn, {}, week=shift_week(WEEK, -1))  # last Monday's report
        weekly.append(_report(conn, {}))
    t_plain = min(plains)
    t_cold, cold_parts = min(cold, key=lambda run: run[0])
    t_warm, warm_parts = min(warm, key=lambda run: run[0])
    t_running = min(running)
    t_weekly = min(weekly)
    print(
        f"{label:<11} plain aggregate {t_plain * 1000:8.1f} ms  weekly report: "
        f"warm {t_warm * 1000:.1f} ms {t_warm / t_plain:.2f}× (goal ≤ 2×) · "
        f"cold {t_cold * 1000:.1f} ms {t_cold / t_plain:.2f}× · "
        f"next Monday {t_weekly * 1000:.1f} ms {t_weekly / t_plain:.2f}× · "
        f"week in progress {t_running * 1000:.1f} ms {t_running / t_plain:.2f}×"
    )
    order = [*PARTS, "other", "build"]
    for name, parts in (("warm", warm_parts), ("cold", cold_parts)):
        print(f"{label:<11} {name} parts: " + "  ".join(f"{p} {parts[p] * 1000:.1f}" for p in order) + " ms")
    return t_plain, t_warm, t_cold


@contextmanager
def _sqlite() -> Iterator[Connection]:
    with tempfile.TemporaryDirectory(prefix="cxbot-bench-") as tmp:
        engine = create_engine(f"sqlite:///{tmp}/bench.db")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            SQLModel.metadata.create_all(conn)
            conn.commit()
            yield conn
        engine.dispose()


@contextmanager
def _postgres() -> Iterator[tuple[Connection, str]]:
    schema = f"cxbot_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(PG_URL)
    with engine.connect() as admin:
        admin.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.commit()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'SET search_path TO "{schema}"'))
            SQLModel.metadata.create_all(conn)
            conn.commit()
            yield conn, schema
    finally:
        with engine.connect() as admin:
            admin.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.commit()
        engine.dispose()


def run(backend: str, rows: int, weeks: int, repeat: int) -> tuple[float, float, float]:
    """Load the data into ``backend`` and print the timings."""
    t0 = time.perf_counter()
    if backend == "sqlite":
        with _sqlite() as conn:
            report_cache_triggers.drop_triggers(conn)  # a bulk load, not answers arriving one by one
            _load_sqlite(conn, _rows(rows, weeks))
            report_cache_triggers.create_triggers(conn)
            conn.execute(tables.Escalation.__table__.insert(), _escalations(rows // 100))  # type: ignore[attr-defined]
            conn.commit()
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
            print(f"sqlite      inserted {rows:,} responses in {time.perf_counter() - t0:.1f} s")
            return _measure(conn, "sqlite", repeat)
    with _postgres() as (conn, schema):
        report_cache_triggers.drop_triggers(conn)
        _load_postgres(conn, schema, _rows(rows, weeks))
        report_cache_triggers.create_triggers(conn)
        conn.execute(tables.Escalation.__table__.insert(), _escalations(rows // 100))  # type: ignore[attr-defined]
        conn.commit()
        conn.execute(text("ANALYZE"))
        conn.commit()
        print(
            f"postgresql  inserted {rows:,} responses in {time.perf_counter() - t0:.1f} s (schema {schema})"
        )
        return _measure(conn, "postgresql", repeat)


def main() -> None:
    """Parse arguments and run the benchmark on each backend."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=11, help="weeks the responses are spread over")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    warm, cold = [], []
    for backend in args.backends.split(","):
        plain, t_warm, t_cold = run(backend.strip(), args.rows, args.weeks, args.repeat)
        warm.append(t_warm / plain)
        cold.append(t_cold / plain)
    print(f"worst ratio: warm {max(warm):.2f}× (goal ≤ 2×), cold {max(cold):.2f}×")


if __name__ == "__main__":
    main()
