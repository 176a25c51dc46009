"""Closed weeks' answers, counted once, so the weekly report aggregates only the weeks still open.

Once a week has ended, ``report_cache`` keeps its answers grouped by everything the report splits
them by (stage, metric, language, channel, score, the negative-words flag, topics), each group with
its number of answers and of those with typed words, plus a ``built`` row saying the week is whole.
The report reads those weeks from here and counts only the others in ``responses``.

Kept in step by the database: triggers on ``responses`` (created by migration 0015, and by
``create_all`` for tests and benches) delete every cached row of the week an inserted, changed or
deleted answer's ``answered_at`` falls in, old and new — whoever wrote it: an answer or comment
stored late into a closed week, ``forget`` clearing a customer's comments, the retention pass. The
next report counts that week again.

Building never counts twice. It runs in one transaction that first shuts out the writers of
``responses`` (PostgreSQL: ``LOCK TABLE … IN SHARE MODE``, which waits for writers in flight and holds
new ones until the commit, so none can slip an answer in between the counting and the storing
unseen by the triggers; SQLite: its single write lock, taken by the first statement). It replaces
the week's rows with an upsert keyed by the whole group, rows in one order, so two workers
building the same week at once write the same rows, the second after the first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import structlog
from sqlalchemy import Table, Text, and_, cast, delete, false, func, inspect, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import ColumnElement

from flows.report import week_bounds_utc
from storage.tables import ReportCache, Response

log = structlog.get_logger(__name__)

CACHE: Table = ReportCache.__table__  # type: ignore[attr-defined]
RESPONSES: Table = Response.__table__  # type: ignore[attr-defined]
BUILT, ANSWERS = "built", "answers"
NO_SCORE = -1
#: How long a build waits for the writers of ``responses`` in flight (PostgreSQL) before it gives up
#: (the report then counts those weeks from the answers; the next one builds them).
LOCK_TIMEOUT_MS = 3000
_KEY = ("timezone", "week", "kind", "stage", "metric", "language", "channel", "score", "negative", "topics")
_TRIGGER = "report_cache_drop_weeks"


@dataclass(frozen=True, slots=True)
class Group:
    """Answers of one week that the report cannot tell apart: how many, and how many with typed words."""

    stage: str  # "" when the answer names none
    metric: str  # "" when none
    language: str
    channel: str
    score: int | None
    negative: bool  # the answer's own flag (negative words), not its score band
    topics: tuple[str, ...]  # sorted, repeats kept
    answers: int
    commented: int


@dataclass
class CacheUse:
    """What one report did with the cache: weeks read from it, built into it, counted from the answers."""

    reused: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    counted: list[str] = field(default_factory=list)
    failed: str | None = None  # why closed weeks could not be stored (they were counted instead)


def has_text(column: Any) -> ColumnElement[bool]:
    """Return whether ``column`` holds typed words (not blank)."""
    return and_(column.is_not(None), func.length(func.trim(column)) > 0)


@lru_cache(maxsize=4096)
def _names_in(text: str) -> tuple[str, ...]:
    return topic_names(json.loads(text))


def topic_names(listed: object) -> tuple[str, ...]:
    """Return the topics of a stored JSON array (text or list), sorted, repeats kept, blanks dropped;
    anything but an array names none."""
    if isinstance(listed, str):
        return _names_in(listed)
    if not isinstance(listed, list):
        return ()
    names = (item if isinstance(item, str) else json.dumps(item) for item in listed if item is not None)
    return tuple(sorted(name for name in names if name))


# ---------------------------------------------------------------------------------------------
# Counting and reading


def count_weeks(conn: Connection, weeks: Sequence[str], tz: str) -> dict[str, list[Group]]:
    """Count the answers of ``weeks`` in ``responses``: one statement, a UNION ALL of one
    range-filtered GROUP BY per week (each week's rows found through the ``answered_at`` index)."""
    if not weeks:
        return {}
    r = RESPONSES
    keys = [r.c.stage, r.c.metric, r.c.language, r.c.channel, r.c.score, r.c.negative, cast(r.c.topics, Text)]
    parts = []
    for i, week in enumerate(weeks):
        start, end = week_bounds_utc(week, tz)
        parts.append(
            select(literal(i).label("week"), *keys, func.count(), func.count().filter(has_text(r.c.comment)))
            .where(r.c.answered_at >= start, r.c.answered_at < end)
            .group_by(*keys)
        )
    merged: list[dict[tuple[Any, ...], list[int]]] = [{} for _ in weeks]
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    for i, stage, metric, language, channel, score, negative, topics, n, typed in conn.execute(statement):
        key = (
            stage or "",
            metric or "",
            str(language),
            str(channel),
            None if score is None else int(score),
            bool(negative),
            topic_names(topics),  # lists stored with other spacing are one group
        )
        counts = merged[int(i)].setdefault(key, [0, 0])
        counts[0] += int(n)
        counts[1] += int(typed)
    return {week: [Group(*key, *counts) for key, counts in merged[i].items()] for i, week in enumerate(weeks)}


def read_cached(conn: Connection, weeks: Sequence[str], tz: str) -> dict[str, list[Group]]:
    """Return the cached groups of those of ``weeks`` that are cached whole (their ``built`` row is there).

    One statement: a week's rows are deleted together (triggers) and written together (builds), so
    the statement sees a week whole or not at all.
    """
    if not weeks:
        return {}
    c = CACHE.c
    columns = (c.week, c.kind, c.stage, c.metric, c.language, c.channel, c.score, c.negative, c.topics)
    rows = conn.execute(
        select(*columns, c.answers, c.commented).where(c.timezone == tz, c.week.in_(list(weeks)))
    )
    built: set[str] = set()
    groups: dict[str, list[Group]] = {}
    for week, kind, stage, metric, language, channel, score, negative, topics, n, typed in rows:
        if kind == BUILT:
            built.add(week)
            continue
        groups.setdefault(week, []).append(
            Group(
                stage=stage,
                metric=metric,
                language=language,
                channel=channel,
                score=None if score == NO_SCORE else int(score),
                negative=bool(negative),
                topics=_names_in(topics),
                answers=int(n),
                commented=int(typed),
            )
        )
    return {week: groups.get(week, []) for week in weeks if week in built}


# ---------------------------------------------------------------------------------------------
# Building


def closed_weeks(weeks: Sequence[str], tz: str, now: datetime) -> list[str]:
    """Return those of ``weeks`` that have ended by ``now``."""
    return [week for week in weeks if week_bounds_utc(week, tz)[1] <= now]


def _schema(conn: Connection) -> str | None:
    """Return the schema the tables are in when the connection translates it (tests), else None."""
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    return translate.get(None)


def _qualified(conn: Connection, name: str) -> str:
    schema = _schema(conn)
    return f'"{schema}".{name}' if schema else name


def _shut_out_writers(conn: Connection) -> None:
    """Make writers of ``responses`` wait until this transaction ends (see the module's docstring)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        conn.exec_driver_sql(f"LOCK TABLE {_qualified(conn, 'responses')} IN SHARE MODE")
    else:  # a write statement, even one that matches nothing, takes SQLite's write lock
        conn.execute(delete(CACHE).where(false()))


def _rows(tz: str, week: str, groups: Sequence[Group], now: datetime) -> list[dict[str, Any]]:
    start, end = week_bounds_utc(week, tz)
    base = {"timezone": tz, "week": week, "period_start": start, "period_end": end, "built_at": now}
    marker = {"kind": BUILT, "stage": "", "metric": "", "language": "", "channel": "", "score": NO_SCORE}
    rows = [
        base
        | marker
        | {
            "negative": False,
            "topics": "[]",
            "answers": sum(g.answers for g in groups),
            "commented": sum(g.commented for g in groups),
        }
    ]
    rows += [
        base
        | {
            "kind": ANSWERS,
            "stage": g.stage,
            "metric": g.metric,
            "language": g.language,
            "channel": g.channel,
            "score": NO_SCORE if g.score is None else g.score,
            "negative": g.negative,
            "topics": json.dumps(list(g.topics)),
            "answers": g.answers,
            "commented": g.commented,
        }
        for g in groups
    ]
    return rows


def store(conn: Connection, tz: str, groups: Mapping[str, Sequence[Group]], now: datetime) -> None:
    """Replace the cached rows of each week of ``groups`` with these (an upsert keyed by the group)."""
    if not groups:
        return
    rows = [row for week, found in groups.items() for row in _rows(tz, week, found, now)]
    # one order in every worker: a second builder of the same week waits behind the first, row by row
    rows.sort(key=lambda row: tuple(row[k] for k in _KEY))
    conn.execute(delete(CACHE).where(CACHE.c.timezone == tz, CACHE.c.week.in_(list(groups))))
    statement = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(CACHE)
    values = ("period_start", "period_end", "answers", "commented", "built_at")
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(_KEY), set_={name: statement.excluded[name] for name in values}
        ),
        rows,
    )


def refresh(conn: Connection, weeks: Sequence[str], tz: str, now: datetime) -> dict[str, list[Group]]:
    """Build the cache of the closed ones of ``weeks`` not cached yet, in the caller's transaction
    (to be committed by it); return the groups of every closed week, cached before or built now.

    Raises:
        OperationalError: when the writers of ``responses`` did not let go in time (PostgreSQL's
            lock timeout, SQLite's busy timeout); the caller rolls back.
    """
    closed = closed_weeks(weeks, tz, now)
    if not closed:
        return {}
    _shut_out_writers(conn)
    found = read_cached(conn, closed, tz)  # another worker may have built some meanwhile
    counted = count_weeks(conn, [week for week in closed if week not in found], tz)
    store(conn, tz, counted, now)
    return found | counted


def answer_groups(
    conn: Connection, weeks: Sequence[str], tz: str, *, now: datetime | None = None, cache: bool = True
) -> tuple[dict[str, list[Group]], CacheUse]:
    """Return the answer groups of each of ``weeks``: cached weeks from the cache, closed weeks not
    cached yet counted and stored (when ``now`` is given), the others counted from ``responses``.

    Storing needs a connection outside a transaction (its own transaction is committed here); inside
    the caller's transaction, or when storing fails, those weeks are counted and not stored (the
    failure is logged).
    """
    use = CacheUse()
    owned = not conn.in_transaction()
    found = read_cached(conn, weeks, tz) if cache else {}
    use.reused = list(found)
    missing = closed_weeks([w for w in weeks if w not in found], tz, now) if cache and now else []
    if missing and owned and now is not None:
        conn.commit()  # end the read: a SQLite read cannot become a write once another one committed
        try:
            with conn.begin():
                built = refresh(conn, missing, tz, now)
        except OperationalError as exc:
            use.failed = type(exc.orig).__name__
            log.warning("report_cache_not_stored", timezone=tz, weeks=missing, error=str(exc.orig)[:200])
        else:
            found |= built
            use.built = [w for w in missing if w in built]
    use.counted = [w for w in weeks if w not in found]
    found |= count_weeks(conn, use.counted, tz)
    return {week: found[week] for week in weeks}, use


# ---------------------------------------------------------------------------------------------
# Triggers


def _sqlite_triggers() -> list[str]:
    def covers(row: str) -> str:
        return f"(period_start <= {row}.answered_at AND {row}.answered_at < period_end)"

    return [
        f"CREATE TRIGGER IF NOT EXISTS {_TRIGGER}_{op.lower()} AFTER {op} ON responses "
        f"BEGIN DELETE FROM report_cache WHERE {' OR '.join(covers(row) for row in rows)}; END"
        for op, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",)))
    ]


def _postgresql_triggers(prefix: str) -> list[str]:
    def drop(row: str) -> str:
        return (
            f"DELETE FROM {prefix}report_cache "
            f"WHERE period_end > {row}.answered_at AND period_start <= {row}.answered_at;"
        )

    return [
        f"CREATE OR REPLACE FUNCTION {prefix}{_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n  IF TG_OP <> 'INSERT' THEN {drop('OLD')} END IF;\n"
        f"  IF TG_OP <> 'DELETE' THEN {drop('NEW')} END IF;\n  RETURN NULL;\nEND $$",
        f"DROP TRIGGER IF EXISTS {_TRIGGER} ON {prefix}responses",
        f"CREATE TRIGGER {_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {prefix}responses "
        f"FOR EACH ROW EXECUTE FUNCTION {prefix}{_TRIGGER}()",
    ]


def create_triggers(conn: Connection) -> None:
    """Create the triggers on ``responses`` that drop a cached week when one of its answers changes
    (when both tables exist; again: nothing changes)."""
    schema = _schema(conn)
    tables = set(inspect(conn).get_table_names(schema=schema))
    if not {"responses", "report_cache"} <= tables:
        return
    if conn.dialect.name == "postgresql":
        statements = _postgresql_triggers(f'"{schema}".' if schema else "")
    else:
        statements = _sqlite_triggers()
    for statement in statements:
        conn.exec_driver_sql(statement)


def drop_triggers(conn: Connection) -> None:
    """Drop the triggers of ``create_triggers`` (migration downgrade; benches loading rows in bulk)."""
    if conn.dialect.name == "postgresql":
        prefix = _qualified(conn, "")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_TRIGGER} ON {prefix}responses")
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {prefix}{_TRIGGER}()")
        return
    for op in ("insert", "update", "delete"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_TRIGGER}_{op}")
