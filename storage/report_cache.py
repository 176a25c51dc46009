"""Closed weeks' answers, counted once, so the weekly report aggregates only the weeks still open.

Once a week has ended, ``report_cache`` keeps what the report counts of its answers, in parts
counted when first needed: ``scores`` (answers per stage × metric × score: every week of the
trend), ``segments`` (the same × language × channel, with how many have typed words: the report
week and the one before) and ``topics`` (answers per stage and list of topics, with how many are
negative: their themes); each part with a ``built`` row saying it is whole. The report reads what
is cached and counts only the rest in ``responses``: the weeks still open, and parts not cached yet.

Kept in step by the database: triggers on ``responses`` (created by migration 0015, and by
``create_all`` for tests and benches) delete every cached row of the week an inserted, changed or
deleted answer's ``answered_at`` falls in, old and new — whoever wrote it: an answer or comment
stored late into a closed week, ``forget`` clearing a customer's comments, the retention pass. The
next report counts that week again.

Building never counts twice. Each week is counted and stored in one transaction (so writers wait
for one week's counting at most) that first shuts out the writers of ``responses``: PostgreSQL's
``LOCK TABLE … IN SHARE MODE`` waits for writers in flight and holds new ones until the commit, so
none can slip an answer in between the counting and the storing unseen by the triggers; SQLite
has one write lock, taken by the first statement. Rows are stored with an upsert keyed by the
whole group, in one order, so two workers building the same week at once write the same rows,
the second after the first.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import structlog
from sqlalchemy import Table, Text, and_, cast, delete, false, func, literal, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from flows.report import week_bounds_utc
from flows.scales import Metric
from storage.report_cache_triggers import qualified
from storage.tables import ReportCache, Response

log = structlog.get_logger(__name__)

CACHE: Table = ReportCache.__table__  # type: ignore[attr-defined]
RESPONSES: Table = Response.__table__  # type: ignore[attr-defined]
#: What is counted of a week: scores per stage × metric (the trend), the same × language × channel
#: with typed comments (the report week and the one before), topics per stage (their themes).
SCORES, SEGMENTS, TOPICS = "scores", "segments", "topics"
BUILT, COUNT = "built", "count"
NO_SCORE = -1
#: How long a build waits for the writers of ``responses`` in flight (PostgreSQL) before it gives up
#: (the report then counts those weeks from the answers; the next one builds them).
LOCK_TIMEOUT_MS = 3000
_KEY = ("timezone", "week", "part", "kind", "stage", "metric", "language", "channel", "score", "topics")
#: Upper bound of the negative band per metric (CX_METHOD §3), for SQL.
_NEGATIVE_AT_MOST = {Metric.NPS: 6, Metric.CSAT: 2, Metric.CES: 3}

#: Which parts of which weeks a report needs: week -> parts.
Wanted = Mapping[str, Collection[str]]
#: Counted parts: week -> part -> groups.
Parts = dict[str, dict[str, list[Any]]]


@dataclass(frozen=True, slots=True)
class ScoreGroup:
    """Answers with one score at one stage × metric (× language × channel: "" when not split)."""

    stage: str
    metric: str
    language: str
    channel: str
    score: int
    answers: int
    commented: int  # of those, with typed words (split by language and channel only)


@dataclass(frozen=True, slots=True)
class TopicGroup:
    """Answers at one stage ("" when none) naming one list of topics, and how many are negative."""

    stage: str
    topics: tuple[str, ...]  # sorted, repeats kept
    answers: int
    negative: int  # in the negative score band, or with negative words


@dataclass
class WeekCounts:
    """What the report needs of one week's answers."""

    scores: list[ScoreGroup] = field(default_factory=list)
    segmented: bool = False  # scores split by language and channel, with typed comments
    topics: list[TopicGroup] = field(default_factory=list)


@dataclass
class CacheUse:
    """What one report did with the cache: weeks read from it, stored into it, counted and not stored."""

    reused: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    counted: list[str] = field(default_factory=list)
    failed: str | None = None  # why closed weeks could not be stored (they were counted instead)


def has_text(column: Any) -> ColumnElement[bool]:
    """Return whether ``column`` holds typed words (not blank)."""
    return and_(column.is_not(None), func.length(func.trim(column)) > 0)


def negative_band(table: Table) -> ColumnElement[bool]:
    """Return whether an answer's score is in its metric's negative band (NPS 0–6, CSAT 1–2, CES 1–3)."""
    c = table.c
    return or_(*(and_(c.metric == m.value, c.score <= top) for m, top in _NEGATIVE_AT_MOST.items()))


def negative_answer(table: Table) -> ColumnElement[bool]:
    """Return whether an answer is negative: its words (the stored flag) or its score band."""
    return or_(table.c.negative.is_(True), negative_band(table))


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


def _scores_of(i: int, start: datetime, end: datetime, *, segmented: bool) -> Select[Any]:
    r = RESPONSES
    keys = [r.c.stage, r.c.metric, r.c.score]
    if segmented:
        keys += [r.c.language, r.c.channel]
    typed = func.count().filter(has_text(r.c.comment)) if segmented else literal(0)
    return (
        select(literal(i).label("week"), *keys, func.count(), typed)
        .where(
            r.c.answered_at >= start, r.c.answered_at < end, r.c.score.is_not(None), r.c.stage.is_not(None)
        )
        .group_by(*keys)
    )


def _topics_of(i: int, start: datetime, end: datetime) -> Select[Any]:
    # grouped by the list as stored (few distinct lists; split here): expanding the JSON arrays in
    # SQL cost more than the grouping and misled PostgreSQL's row estimate
    r = RESPONSES
    keys = [r.c.stage, cast(r.c.topics, Text)]
    return (
        select(literal(i).label("week"), *keys, func.count(), func.count().filter(negative_answer(r)))
        .where(r.c.answered_at >= start, r.c.answered_at < end)
        .group_by(*keys)
    )


def count_parts(conn: Connection, wanted: Wanted, tz: str) -> Parts:
    """Count the ``wanted`` parts of their weeks in ``responses``: one statement per part, a UNION
    ALL of one range-filtered GROUP BY per week (each week's rows found through the ``answered_at``
    index; on PostgreSQL a Parallel Append hands whole weeks to the workers)."""
    out: Parts = {week: {} for week, parts in wanted.items() if parts}
    for part in (SCORES, SEGMENTS, TOPICS):
        weeks = [week for week, parts in wanted.items() if part in parts]
        if not weeks:
            continue
        bounds = [week_bounds_utc(week, tz) for week in weeks]
        if part == TOPICS:
            selects = [_topics_of(i, *bounds[i]) for i in range(len(weeks))]
        else:
            selects = [_scores_of(i, *bounds[i], segmented=part == SEGMENTS) for i in range(len(weeks))]
        rows = conn.execute(selects[0] if len(selects) == 1 else union_all(*selects))
        merged: list[dict[tuple[Any, ...], list[int]]] = [{} for _ in weeks]
        for i, *found in rows:
            if part == TOPICS:
                stage, listed, n, negative = found
                key: tuple[Any, ...] = (stage or "", topic_names(listed))  # lists spaced otherwise are one
            else:
                stage, metric, score, *segment, n, negative = found
                key = (stage, metric or "", *(segment or ("", "")), int(score))
            counts = merged[int(i)].setdefault(key, [0, 0])
            counts[0] += int(n)
            counts[1] += int(negative)
        for week, groups in zip(weeks, merged, strict=True):
            if part == TOPICS:
                out[week][part] = [TopicGroup(*key, *counts) for key, counts in groups.items()]
            else:
                out[week][part] = [ScoreGroup(*key, *counts) for key, counts in groups.items()]
    return out


def read_cached(conn: Connection, weeks: Iterable[str], tz: str) -> Parts:
    """Return the cached parts of ``weeks`` (those whose ``built`` row is there).

    One statement: a week's rows are deleted together (triggers) and written together (builds), so
    the statement sees a part whole or not at all.
    """
    weeks = list(weeks)
    if not weeks:
        return {}
    c = CACHE.c
    columns = (c.week, c.part, c.kind, c.stage, c.metric, c.language, c.channel, c.score, c.topics)
    rows = conn.execute(
        select(*columns, c.answers, c.commented, c.negative).where(c.timezone == tz, c.week.in_(weeks))
    )
    built: set[tuple[str, str]] = set()
    found: dict[tuple[str, str], list[Any]] = {}
    for week, part, kind, stage, metric, language, channel, score, topics, n, typed, negative in rows:
        if kind == BUILT:
            built.add((week, part))
        elif part == TOPICS:
            found.setdefault((week, part), []).append(TopicGroup(stage, _names_in(topics), n, negative))
        else:
            group = ScoreGroup(stage, metric, language, channel, score, n, typed)
            found.setdefault((week, part), []).append(group)
    out: Parts = {}
    for week, part in built:
        out.setdefault(week, {})[part] = found.get((week, part), [])
    return out


def _missing(wanted: Wanted, found: Parts) -> dict[str, set[str]]:
    """Return the wanted parts not found (split scores stand in for the plain ones)."""
    out: dict[str, set[str]] = {}
    for week, parts in wanted.items():
        have = found.get(week, {})
        lacking = {p for p in parts if p not in have and not (p == SCORES and SEGMENTS in have)}
        if lacking:
            out[week] = lacking
    return out


def _merge(into: Parts, more: Parts) -> None:
    for week, parts in more.items():
        into.setdefault(week, {}).update(parts)


# ---------------------------------------------------------------------------------------------
# Building


def closed_weeks(weeks: Iterable[str], tz: str, now: datetime) -> list[str]:
    """Return those of ``weeks`` that have ended by ``now``."""
    return [week for week in weeks if week_bounds_utc(week, tz)[1] <= now]


def _shut_out_writers(conn: Connection) -> None:
    """Make writers of ``responses`` wait until this transaction ends (see the module's docstring)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
        conn.exec_driver_sql(f"LOCK TABLE {qualified(conn, 'responses')} IN SHARE MODE")
    else:  # a write statement, even one that matches nothing, takes SQLite's write lock
        conn.execute(delete(CACHE).where(false()))


_BLANK = {"stage": "", "metric": "", "language": "", "channel": "", "score": NO_SCORE, "topics": ""}


def _rows(tz: str, week: str, part: str, groups: Sequence[Any], now: datetime) -> list[dict[str, Any]]:
    start, end = week_bounds_utc(week, tz)
    base = {"timezone": tz, "week": week, "part": part, "period_start": start, "period_end": end}
    base["built_at"] = now
    total = sum(g.answers for g in groups)
    rows = [base | _BLANK | {"kind": BUILT, "answers": total, "commented": 0, "negative": 0}]
    for g in groups:
        if isinstance(g, TopicGroup):
            values = _BLANK | {"stage": g.stage, "topics": json.dumps(list(g.topics)), "commented": 0}
            values |= {"answers": g.answers, "negative": g.negative}
        else:
            values = _BLANK | {"stage": g.stage, "metric": g.metric, "language": g.language}
            values |= {"channel": g.channel, "score": g.score, "answers": g.answers, "commented": g.commented}
            values["negative"] = 0
        rows.append(base | values | {"kind": COUNT})
    return rows


def store(conn: Connection, tz: str, counted: Parts, now: datetime) -> None:
    """Store the counted parts of each week (an upsert keyed by the group: a part stored twice at
    once holds the same counts, never their sum)."""
    rows = [
        row
        for week, parts in counted.items()
        for part, groups in parts.items()
        for row in _rows(tz, week, part, groups, now)
    ]
    if not rows:
        return
    # one order in every worker: a second builder of the same week waits behind the first, row by row.
    # No old rows to delete: a part's rows go with its ``built`` row (triggers delete whole weeks).
    rows.sort(key=lambda row: tuple(row[k] for k in _KEY))
    statement = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(CACHE)
    values = ("period_start", "period_end", "answers", "commented", "negative", "built_at")
    upsert = statement.on_conflict_do_update(
        index_elements=list(_KEY), set_={name: statement.excluded[name] for name in values}
    )
    conn.execute(upsert, rows)


def refresh(conn: Connection, wanted: Wanted, tz: str, now: datetime) -> Parts:
    """Count and store the wanted parts of the weeks ended by ``now`` that are not cached yet, in the
    caller's transaction (to be committed by it); return every wanted part of those weeks.

    Raises:
        OperationalError: when the writers of ``responses`` did not let go in time (PostgreSQL's
            lock timeout, SQLite's busy timeout); the caller rolls back.
    """
    closed = {week: wanted[week] for week in closed_weeks(wanted, tz, now)}
    if not closed:
        return {}
    _shut_out_writers(conn)
    found = read_cached(conn, closed, tz)  # another worker may have built some meanwhile
    counted = count_parts(conn, _missing(closed, found), tz)
    store(conn, tz, counted, now)
    _merge(found, counted)
    return found


def _assembled(wanted: Wanted, found: Parts) -> dict[str, WeekCounts]:
    out = {}
    for week, parts in wanted.items():
        have = found.get(week, {})
        segmented = SEGMENTS in parts or (SCORES not in have and SEGMENTS in have)
        scores = have.get(SEGMENTS if segmented else SCORES, [])
        out[week] = WeekCounts(scores=scores, segmented=segmented, topics=have.get(TOPICS, []))
    return out


def answer_counts(
    conn: Connection, wanted: Wanted, tz: str, *, now: datetime | None = None, cache: bool = True
) -> tuple[dict[str, WeekCounts], CacheUse]:
    """Return the ``wanted`` parts of each week: from the cache where cached; counted and stored
    when the week has ended by ``now`` (given); else counted from ``responses``.

    Storing needs a connection outside a transaction (its own transaction is committed here); inside
    the caller's transaction, or when storing fails, those weeks are counted and not stored (the
    failure is logged).
    """
    use = CacheUse()
    owned = not conn.in_transaction()
    found = read_cached(conn, wanted, tz) if cache else {}
    missing = _missing(wanted, found)
    use.reused = [week for week in wanted if week in found and week not in missing]
    closed = closed_weeks(missing, tz, now) if cache and now is not None else []
    if closed and owned and now is not None:
        conn.commit()  # end the read: a SQLite read cannot become a write once another one committed
        for week in closed:  # a week per transaction: writers wait for one week's counting at most
            try:
                with conn.begin():
                    built = refresh(conn, {week: missing[week]}, tz, now)
            except OperationalError as exc:
                use.failed = type(exc.orig).__name__
                left = closed[closed.index(week) :]
                log.warning("report_cache_not_stored", timezone=tz, weeks=left, error=str(exc.orig)[:200])
                break
            _merge(found, built)
            use.built.append(week)
    still = _missing(wanted, found)
    use.counted = list(still)
    _merge(found, count_parts(conn, still, tz))
    return _assembled(wanted, found), use
