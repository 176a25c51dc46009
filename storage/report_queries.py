"""Fill the weekly report's :class:`flows.report.ReportInputs` with GROUP BY queries.

Week boundaries are computed in Python in the company's time zone and converted to UTC ranges;
SQL only compares timestamps with those bounds (no time zone functions), so the same queries run
on SQLite and PostgreSQL. Answers are aggregated in the database, one range-filtered GROUP BY per
week, the weeks joined by UNION ALL into one statement: score histograms per week × stage × metric
× score (× language × channel for the report week and the one before). Funnel, themes and
escalation counts are counted per week inside one grouped statement each (``count(*) FILTER``).
Only small result sets reach Python: a few dozen verbatim candidates, the week's escalation
durations (computed by PostgreSQL; by Python on SQLite) and the overdue list.

Definitions (per week, all timestamps in [start, end) of the ISO week in the company time zone;
the report's ``definitions`` say the same in one line each):
- responses: answers with a score, by ``answered_at``; commented: those with typed text (a
  tapped reason chip is stored in ``reason``, not in ``comment``);
- due / sent / delivered: survey instances by ``due_at`` / ``sent_at`` / ``delivered_at`` (or
  ``sent_at`` when the channel reports no delivery; Telegram has no delivery receipts);
  answered: of the surveys delivered that week, those answered (so far) — a cohort, so the
  response rate answered ÷ delivered never exceeds 100 %;
  re-asked: sum of ``reasks`` of the surveys sent that week; unreachable: surveys due that week
  and never sent, by reason (no channel, blocked, opted out, expired); sent late: sent that week
  but due in an earlier one; due = sent that week + sent later + unreachable + cancelled + pending;
- opt-outs: customers by ``opted_out_at`` (language of the customer, no stage or channel);
- themes: topics of negative answers (negative score band, or negative words);
- escalations: opened / taken by their timestamps; resolved: closing questions asked that week
  (each resolution once); within SLA: of those whose SLA fell due that week, taken by then;
  overdue: not resolved by the end of the week with the SLA already past; closing answers of the
  week's resolutions (given by the end of the week); detractor recovery: escalations of NPS
  detractors (0–6) resolved that week whose last closing answer given by the end of the week is
  "yes" ÷ those escalations (no answer yet: not recovered).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Float,
    Table,
    Text,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from flows.report import (
    UNREACHABLE_REASONS,
    EscalationCounts,
    FunnelCount,
    OverdueItem,
    ReportInputs,
    ScoreCount,
    StageRef,
    TopicCount,
    VerbatimRow,
    WeeklyReport,
    build_report,
    input_weeks,
    shift_week,
    week_bounds_utc,
    week_of,
)
from flows.scales import Metric
from storage.tables import (
    ChannelIdentity,
    ClosingQuestion,
    Customer,
    DueWork,
    Escalation,
    Response,
    SurveyInstance,
)

#: Closing-question answers that count a detractor as recovered.
RECOVERED_ANSWERS = ("resolved", "yes")
#: How many verbatim candidates of each sentiment are read.
VERBATIM_CANDIDATES = 20
#: Survey statuses that were never meant to be sent.
_NOT_SENDABLE = ("cancelled", "skipped")

_RESPONSES: Table = Response.__table__  # type: ignore[attr-defined]
_SURVEYS: Table = SurveyInstance.__table__  # type: ignore[attr-defined]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]
_ESCALATIONS: Table = Escalation.__table__  # type: ignore[attr-defined]
_CLOSING: Table = ClosingQuestion.__table__  # type: ignore[attr-defined]
_DUE_WORK: Table = DueWork.__table__  # type: ignore[attr-defined]
_IDENTITIES: Table = ChannelIdentity.__table__  # type: ignore[attr-defined]


def _edges(weeks: Sequence[str], tz: str) -> list[datetime]:
    """Return the UTC boundaries of consecutive ``weeks``: len(weeks) + 1 instants."""
    bounds = [week_bounds_utc(w, tz) for w in weeks]
    return [start for start, _ in bounds] + [bounds[-1][1]]


def _in_range(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _has_text(column: Any) -> ColumnElement[bool]:
    return and_(column.is_not(None), func.length(func.trim(column)) > 0)


def _positive(table: Table) -> ColumnElement[bool]:
    c = table.c
    return or_(
        and_(c.metric == Metric.NPS.value, c.score >= 9),
        and_(c.metric == Metric.CSAT.value, c.score >= 4),
        and_(c.metric == Metric.CES.value, c.score >= 5),
    )


def _negative(table: Table) -> ColumnElement[bool]:
    c = table.c
    return or_(
        and_(c.metric == Metric.NPS.value, c.score <= 6),
        and_(c.metric == Metric.CSAT.value, c.score <= 2),
        and_(c.metric == Metric.CES.value, c.score <= 3),
    )


# ---------------------------------------------------------------------------------------------
# Answers


def _week_counts(column: Any, edges: Sequence[datetime]) -> list[Any]:
    """Return ``count(*)`` of the rows before each inner edge: week i holds ``before[i + 1] - before[i]``.

    Counting per week inside one grouped pass (instead of a GROUP BY on a per-row week number)
    keeps the planner's group estimate right: a key computed from ``answered_at`` inherits its
    million distinct values, which rules out PostgreSQL's parallel partial aggregation.
    """
    return [func.count().filter(column < edge) for edge in edges[1:-1]]


def _split_weeks(total: int, before: Sequence[int]) -> list[int]:
    """Return the per-week counts from a group's total and its cumulative counts before each edge."""
    bounds = [0, *before, total]
    return [int(bounds[i + 1]) - int(bounds[i]) for i in range(len(bounds) - 1)]


def _histograms(
    conn: Connection, edges: Sequence[datetime], first: int, last: int, *, segmented: bool
) -> Iterator[tuple[int, str, str, str, str, int, int, int]]:
    """Yield (week index, stage, metric, language, channel, score, answers, commented) of weeks
    ``first`` … ``last - 1``: one statement, a UNION ALL of one range-filtered GROUP BY per week.

    Language, channel and the commented count only when ``segmented`` (else "", "" and 0). Each
    week's rows are found through the ``answered_at`` index and read once; on PostgreSQL a
    Parallel Append hands whole weeks to the workers. (Grouping by a week number computed per
    row instead, e.g. ``width_bucket(answered_at, edges)``, makes the planner expect a group per
    distinct ``answered_at`` — a million — and aggregate in one process, 2–3× slower.)
    """
    r = _RESPONSES
    keys: list[Any] = [r.c.stage, r.c.metric, r.c.score]
    if segmented:
        keys += [r.c.language, r.c.channel]
    weeks = []
    for i in range(first, last):
        counts: list[Any] = [func.count()]
        if segmented:
            counts.append(func.count().filter(_has_text(r.c.comment)))
        weeks.append(
            select(literal(i).label("week"), *keys, *counts)
            .where(
                _in_range(r.c.answered_at, edges[i], edges[i + 1]),
                r.c.score.is_not(None),
                r.c.stage.is_not(None),
            )
            .group_by(*keys)
        )
    if not weeks:
        return
    for row in conn.execute(union_all(*weeks)):
        week, stage, metric, score = int(row[0]), str(row[1]), str(row[2]), int(row[3])
        if segmented:
            yield week, stage, metric, str(row[4]), str(row[5]), score, int(row[6]), int(row[7])
        else:
            yield week, stage, metric, "", "", score, int(row[4]), 0


def score_counts(
    conn: Connection, weeks: Sequence[str], tz: str, *, segment_weeks: int = 2
) -> tuple[list[ScoreCount], dict[tuple[str, str, str, str], tuple[int, int]]]:
    """Return score histograms of ``weeks`` and, per (week, stage, language, channel), (responses, commented).

    Two statements, each a range-filtered GROUP BY per week (each row read once): the last
    ``segment_weeks`` weeks (the report week and the one before) by stage × metric × language ×
    channel × score, with the commented answers; older weeks only by stage × metric × score
    (language and channel "" = all), as the trend needs no more and each key costs on every row.
    """
    edges = _edges(weeks, tz)
    split = max(0, len(weeks) - segment_weeks)
    valid = {m.value for m in Metric}
    hist: dict[tuple[str, str, str, str, str, int], int] = {}
    answers: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    rows = itertools.chain(
        _histograms(conn, edges, 0, split, segmented=False),
        _histograms(conn, edges, split, len(weeks), segmented=True),
    )
    for i, stage, metric, language, channel, score, count, commented in rows:
        if metric not in valid or not Metric(metric).in_range(score):
            continue
        key = (weeks[i], stage, metric, language, channel, score)
        hist[key] = hist.get(key, 0) + count
        if i >= split:
            seg = (weeks[i], stage, language, channel)
            done, with_text = answers.get(seg, (0, 0))
            answers[seg] = (done + count, with_text + commented)
    scores = [
        ScoreCount(week=w, stage=s, metric=Metric(m), language=lang, channel=ch, score=sc, count=n)
        for (w, s, m, lang, ch, sc), n in sorted(hist.items())
    ]
    return scores, answers


# ---------------------------------------------------------------------------------------------
# Funnel


#: Skip reasons that mean the customer said no to surveys (a skip without a reason: opted out in chat).
_OPTED_OUT_SKIPS = ("opted_out", "no_consent")


def _unreachable_filters() -> dict[str, ColumnElement[bool]]:
    """Return, per reason, which surveys were due and never sent (so far).

    no_channel / blocked: its timer waits for a chat (``due_work`` "waiting"): blocked when one of
    the customer's chats blocked the bot, else no channel; opted_out: skipped because the customer
    opted out (or gave no consent); expired: skipped because it could not go out before its
    deadline (quiet hours, caps, an open ticket…), or expired unsent.
    """
    s, w, i = _SURVEYS, _DUE_WORK, _IDENTITIES
    never_sent = s.c.sent_at.is_(None)
    waiting = (
        select(w.c.id)
        .where(w.c.survey_id == s.c.id, w.c.kind == "survey_due", w.c.status == "waiting")
        .exists()
    )
    blocked = select(i.c.id).where(i.c.customer_id == s.c.customer_id, i.c.blocked_at.is_not(None)).exists()
    opted = or_(s.c.reason.is_(None), s.c.reason.in_(_OPTED_OUT_SKIPS))
    return {
        "no_channel": and_(never_sent, s.c.status.in_(("scheduled", "queued")), waiting, ~blocked),
        "blocked": and_(never_sent, s.c.status.in_(("scheduled", "queued")), waiting, blocked),
        "opted_out": and_(never_sent, s.c.status == "skipped", opted),
        "expired": and_(never_sent, or_(and_(s.c.status == "skipped", ~opted), s.c.status == "expired")),
    }


def _grouped_counts(
    conn: Connection,
    found: ColumnElement[bool],
    measures: Sequence[tuple[str, Any]],
    weeks: Sequence[str],
) -> dict[tuple[str, str, str, str], dict[str, int]]:
    """Return {measure: count} per (week, stage, language, channel): one grouped statement whose
    columns are ``measures`` (name, aggregate), the aggregates already restricted to one week each
    (a list per week, in ``weeks`` order); ``found`` selects the rows so that an index can serve it."""
    s = _SURVEYS
    lang = func.coalesce(s.c.language, "")
    channel = func.coalesce(s.c.channel, "")
    per_week = len(measures) // len(weeks)
    statement = (
        select(s.c.stage, lang, channel, *(m for _, m in measures))
        .where(found)
        .group_by(s.c.stage, lang, channel)
    )
    out: dict[tuple[str, str, str, str], dict[str, int]] = {}
    for stage, la, ch, *counts in conn.execute(statement):
        for k, week in enumerate(weeks):
            chunk = measures[k * per_week : (k + 1) * per_week]
            values = {
                name: int(v or 0)
                for (name, _), v in zip(chunk, counts[k * per_week : (k + 1) * per_week], strict=True)
            }
            if any(values.values()):
                out[(week, str(stage), str(la), str(ch))] = values
    return out


def funnel_counts(
    conn: Connection,
    weeks: Sequence[str],
    tz: str,
    answers: dict[tuple[str, str, str, str], tuple[int, int]],
) -> list[FunnelCount]:
    """Return funnel rows for ``weeks`` (the report week and the one before).

    Surveys are grouped by the language and channel they were sent in ("" when never sent).
    """
    s = _SURVEYS
    c = _CUSTOMERS
    edges = _edges(weeks, tz)
    start, end = edges[0], edges[-1]
    cancelled = s.c.status == "cancelled"  # skipped ones are unreachable (opted out / expired)
    unreachable = _unreachable_filters()
    due_measures: list[tuple[str, Any]] = []
    sent_measures: list[tuple[str, Any]] = []
    delivered_measures: list[tuple[str, Any]] = []
    delivered_at = func.coalesce(s.c.delivered_at, s.c.sent_at)
    for i in range(len(weeks)):
        due_week = _in_range(s.c.due_at, edges[i], edges[i + 1])
        due_measures += [
            ("due", func.count().filter(due_week)),
            ("due_sent", func.count().filter(due_week, s.c.sent_at < edges[i + 1])),
            ("due_sent_later", func.count().filter(due_week, s.c.sent_at >= edges[i + 1])),
            ("due_cancelled", func.count().filter(due_week, s.c.sent_at.is_(None), cancelled)),
            *(
                (f"unreachable_{why}", func.count().filter(due_week, unreachable[why]))
                for why in UNREACHABLE_REASONS
            ),
        ]
        sent_week = _in_range(s.c.sent_at, edges[i], edges[i + 1])
        sent_measures += [
            ("sent", func.count().filter(sent_week)),
            ("sent_late", func.count().filter(sent_week, s.c.due_at < edges[i])),
            ("reasked", func.coalesce(func.sum(s.c.reasks).filter(sent_week), 0)),
        ]
        delivered_week = _in_range(delivered_at, edges[i], edges[i + 1])
        delivered_measures += [
            ("delivered", func.count().filter(delivered_week)),
            ("answered", func.count().filter(delivered_week, s.c.answered_at.is_not(None))),
        ]
    due = _grouped_counts(conn, _in_range(s.c.due_at, start, end), due_measures, weeks)
    sent = _grouped_counts(conn, _in_range(s.c.sent_at, start, end), sent_measures, weeks)
    # a channel without delivery receipts: accepted by the platform counts as delivered; the
    # range is spelt out per column so the delivered_at and sent_at indexes serve it
    delivered = _grouped_counts(
        conn,
        or_(
            _in_range(s.c.delivered_at, start, end),
            and_(s.c.delivered_at.is_(None), _in_range(s.c.sent_at, start, end)),
        ),
        delivered_measures,
        weeks,
    )
    opt_outs = (
        select(
            c.c.language,
            *(
                func.count().filter(_in_range(c.c.opted_out_at, edges[i], edges[i + 1]))
                for i in range(len(weeks))
            ),
        )
        .where(_in_range(c.c.opted_out_at, start, end))
        .group_by(c.c.language)
    )
    opted: dict[str, list[int]] = {str(lang): [int(n) for n in ns] for lang, *ns in conn.execute(opt_outs)}
    rows: list[FunnelCount] = []
    for week in weeks:
        keys = {key[1:] for key in (*due, *sent, *delivered) if key[0] == week}
        keys |= {(st, la, ch) for (w, st, la, ch) in answers if w == week}
        for stage, lang, channel in sorted(keys):
            key = (week, stage, lang, channel)
            found = {**due.get(key, {}), **sent.get(key, {}), **delivered.get(key, {})}
            responses, commented = answers.get(key, (0, 0))
            rows.append(
                FunnelCount(
                    week=week,
                    stage=stage,
                    language=lang,
                    channel=channel,
                    responses=responses,
                    commented=commented,
                    unreachable=sum(found.get(f"unreachable_{why}", 0) for why in UNREACHABLE_REASONS),
                    **found,
                )
            )
        rows += [
            FunnelCount(week=week, stage="", language=lang, channel="", opted_out=ns[weeks.index(week)])
            for lang, ns in opted.items()
            if ns[weeks.index(week)]
        ]
    return rows


# ---------------------------------------------------------------------------------------------
# Comments


def _topic_names(listed: object) -> list[str]:
    """Return the topics of a stored JSON array (text); anything but an array names none."""
    value = json.loads(listed) if isinstance(listed, str) else listed
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, str) else json.dumps(item) for item in value if item is not None]


def topic_counts(conn: Connection, weeks: Sequence[str], tz: str) -> list[TopicCount]:
    """Return how many negative answers of each week are about each topic.

    Negative: a score in the negative band (NPS 0–6, CSAT 1–2, CES 1–3) or words read as
    negative; topics come from the typed words and from the tapped reason chip (its topic).

    The database groups the comments by their topic list as stored (few distinct lists), with each
    week's count; Python splits the lists. Expanding the JSON arrays row by row in SQL cost more
    than the grouping and misled PostgreSQL's row estimate (100 rows per array) into JIT-compiling.
    """
    r = _RESPONSES
    edges = _edges(weeks, tz)
    listed = cast(r.c.topics, Text)  # PostgreSQL's json type has no equality to group by
    before = _week_counts(r.c.answered_at, edges)
    statement = (
        select(listed, func.count(), *before)
        .where(
            _in_range(r.c.answered_at, edges[0], edges[-1]),
            # CX_METHOD §3: negative by its score band, or by its words (the comment's flag)
            or_(r.c.negative.is_(True), _negative(r)),
        )
        .group_by(listed)
    )
    counts: dict[tuple[str, str], int] = {}
    for row in conn.execute(statement):
        names = [name for name in _topic_names(row[0]) if name]
        for week, n in zip(weeks, _split_weeks(row[1], row[2:]), strict=True):
            for name in names if n else ():
                counts[(week, name)] = counts.get((week, name), 0) + n
    return [TopicCount(week=week, topic=topic, count=n) for (week, topic), n in counts.items()]


def verbatim_candidates(
    conn: Connection, week: str, tz: str, limit: int = VERBATIM_CANDIDATES, per_stage: int = 5
) -> list[VerbatimRow]:
    """Return commented answers of ``week`` to quote: per sentiment the ``per_stage`` most extreme of
    each stage (newest first among equals), at most ``limit``; so every stage can be heard.

    Two statements rather than ranking every commented answer of the week (a sort of them all,
    on disk beyond a few hundred thousand): the commented answers are counted per stage × score;
    the scores that can hold a stage's ``per_stage`` most extreme are picked here; only those
    are read, the newest ``per_stage`` of each (a LIMIT per stage × score, off the
    ``answered_at`` index), and ranked here as SQL's ``row_number()`` would.
    """
    r = _RESPONSES
    start, end = week_bounds_utc(week, tz)
    commented = (
        _in_range(r.c.answered_at, start, end),
        r.c.score.is_not(None),
        r.c.stage.is_not(None),
        _has_text(r.c.comment),
    )
    negative = _negative(r)
    band = case((negative, 0), else_=1)
    counted = (
        select(band, r.c.stage, r.c.metric, r.c.score, func.count())
        .where(*commented, or_(negative, _positive(r)))
        .group_by(band, r.c.stage, r.c.metric, r.c.score)
    )
    groups: dict[tuple[int, str], list[tuple[float, str, int, int]]] = {}
    valid = {m.value for m in Metric}
    for band_no, stage, metric, score, count in conn.execute(counted):
        if metric in valid:
            groups.setdefault((int(band_no), str(stage)), []).append(
                (_extreme(int(band_no), Metric(metric), int(score)), str(metric), int(score), int(count))
            )
    wanted: list[tuple[int, str, str, int]] = []  # (band, stage, metric, score) worth reading
    for (band_no, stage), found in groups.items():
        found.sort()
        seen, cutoff = 0, 0.0
        for extreme, metric, score, count in found:
            if seen >= per_stage and extreme > cutoff:
                break
            wanted.append((band_no, stage, metric, score))
            seen += count
            cutoff = extreme  # ties with the last group needed are read too
    if not wanted:
        return []
    columns = (
        r.c.stage,
        r.c.metric,
        r.c.score,
        r.c.language,
        r.c.channel,
        r.c.comment,
        r.c.answered_at,
        r.c.topics,
    )
    newest = [
        select(
            select(literal(band_no).label("band"), *columns)
            .where(*commented, r.c.stage == stage, r.c.metric == metric, r.c.score == score)
            .order_by(r.c.answered_at.desc())
            .limit(per_stage)
            .subquery()
        )
        for band_no, stage, metric, score in wanted
    ]
    # (extreme, newest first, row) per band × stage: the order of SQL's row_number() over them
    ranked: dict[tuple[int, str], list[tuple[float, float, Any]]] = {}
    for row in conn.execute(union_all(*newest)):
        band_no = int(row[0])
        order = (_extreme(band_no, Metric(row[2]), int(row[3])), -row[7].timestamp())
        ranked.setdefault((band_no, str(row[1])), []).append((*order, row))
    chosen: list[tuple[int, int, float, float, Any]] = []
    for (band_no, _stage), rows in ranked.items():
        rows.sort(key=lambda item: item[:2])
        for rank, (extreme, newest_first, row) in enumerate(rows[:per_stage], start=1):
            chosen.append((band_no, rank, extreme, newest_first, row))
    chosen.sort(key=lambda item: item[:4])
    out: list[VerbatimRow] = []
    taken = [0, 0]
    for band_no, _rank, _extreme_at, _newest, row in chosen:
        if taken[band_no] >= limit:
            continue
        taken[band_no] += 1
        _, stage, metric, score, lang, channel, comment, answered_at, topics = row
        out.append(
            VerbatimRow(
                stage=str(stage),
                metric=Metric(metric),
                score=int(score),
                language=str(lang),
                channel=str(channel),
                text=str(comment),
                answered_at=answered_at,
                topics=[str(t) for t in (topics or [])],
            )
        )
    return out


def _extreme(band: int, metric: Metric, score: int) -> float:
    """Return how far down the quote order a score comes: negative answers worst first (band 0),
    positive ones best first (band 1); by the score's place on its scale (0 lowest … 1 highest)."""
    position = (score - metric.low) / (metric.high - metric.low)
    return position if band == 0 else -position


# ---------------------------------------------------------------------------------------------
# Escalations


def _seconds_array(since: Any, until: Any, where: ColumnElement[bool]) -> Any:
    """Return PostgreSQL's array of the seconds from ``since`` to ``until`` of the rows ``where``
    (both set); ``extract`` of an interval is exact to the microsecond, as ``timedelta`` is."""
    seconds = cast(extract("epoch", until - since), Float)
    return func.array_agg(seconds).filter(where, since.is_not(None), until.is_not(None))


def _durations(conn: Connection, since: Any, until: Any, where: ColumnElement[bool]) -> list[float]:
    """Return the seconds from ``since`` to ``until`` of the rows ``where`` (both set), subtracted
    by Python (SQLite stores text timestamps)."""
    both = and_(where, since.is_not(None), until.is_not(None))
    return [(b - a).total_seconds() for a, b in conn.execute(select(since, until).where(both)).all()]


def escalation_counts(conn: Connection, week: str, tz: str, *, overdue_limit: int = 20) -> EscalationCounts:
    """Return the closing-the-loop figures of ``week`` (counted in SQL; durations and the overdue
    list come back)."""
    e = _ESCALATIONS
    q = _CLOSING
    start, end = week_bounds_utc(week, tz)
    taken_in_week = _in_range(e.c.taken_at, start, end)
    detractor = and_(e.c.metric == Metric.NPS.value, e.c.score.is_not(None), e.c.score <= 6)
    # each resolution of the week asked the closing question once: one row each, never overwritten;
    # answers count as given by the end of the week, so a past week's figures stay as reported
    answered_by_end = case((q.c.answered_at < end, q.c.answer), else_=None)
    asked = conn.execute(
        select(q.c.escalation_id, q.c.asked_at, answered_by_end, e.c.opened_at, detractor)
        .select_from(q.join(e, e.c.id == q.c.escalation_id))
        .where(_in_range(q.c.asked_at, start, end))
    ).all()
    closing: dict[str, int] = {}
    resolve_seconds: list[float] = []
    detractor_ids: set[int] = set()
    for escalation_id, asked_at, answer, opened_at, is_detractor in asked:
        name = str(answer) if answer else "no_answer"
        closing[name] = closing.get(name, 0) + 1
        resolve_seconds.append((asked_at - opened_at).total_seconds())
        if is_detractor:
            detractor_ids.add(int(escalation_id))
    last_answer: dict[int, tuple[datetime, int, str]] = {}
    if detractor_ids:
        answers = conn.execute(
            select(q.c.escalation_id, q.c.answered_at, q.c.id, q.c.answer).where(
                q.c.escalation_id.in_(sorted(detractor_ids)),
                q.c.answer.is_not(None),
                q.c.answered_at < end,
            )
        )
        for escalation_id, answered_at, ident, answer in answers:
            order = (answered_at, int(ident), str(answer))
            if int(escalation_id) not in last_answer or order > last_answer[int(escalation_id)]:
                last_answer[int(escalation_id)] = order
    detractors = len(detractor_ids)
    recovered = sum(
        1 for ident in detractor_ids if ident in last_answer and last_answer[ident][2] in RECOVERED_ANSWERS
    )
    open_at_end = and_(
        e.c.opened_at < end,
        or_(e.c.resolved_at.is_(None), e.c.resolved_at >= end),
        e.c.sla_due_at.is_not(None),
        e.c.sla_due_at < end,
    )
    overdue_rows = conn.execute(
        select(e.c.id, e.c.stage, e.c.priority, e.c.opened_at, e.c.taken_at)
        .where(open_at_end)
        .order_by(e.c.opened_at)
        .limit(overdue_limit)
    ).all()
    sla_in_week = _in_range(e.c.sla_due_at, start, end)
    counts: list[Any] = [
        func.count().filter(_in_range(e.c.opened_at, start, end)),
        func.count().filter(taken_in_week),
        func.count().filter(open_at_end),
        func.count().filter(sla_in_week, e.c.taken_at.is_not(None), e.c.taken_at <= e.c.sla_due_at),
        func.count().filter(sla_in_week),
    ]
    in_database = conn.dialect.name == "postgresql"  # durations too, as an array: no timestamps sent
    if in_database:
        counts.append(_seconds_array(e.c.opened_at, e.c.taken_at, taken_in_week))
    row = conn.execute(select(*counts)).one()
    opened, taken, overdue, within_sla, sla_total = (int(n) for n in row[:5])
    if in_database:
        take_seconds = [float(v) for v in row[5] or ()]
    else:
        take_seconds = _durations(conn, e.c.opened_at, e.c.taken_at, taken_in_week)
    return EscalationCounts(
        week=week,
        opened=opened,
        taken=taken,
        resolved=len(asked),
        overdue=overdue,
        take_seconds=take_seconds,
        resolve_seconds=resolve_seconds,
        within_sla=within_sla,
        sla_total=sla_total,
        closing=closing,
        detractors_closed=detractors,
        detractors_recovered=recovered,
        overdue_items=[
            OverdueItem(
                ref=f"E-{ident}",
                stage=str(stage or ""),
                priority=str(priority),
                opened_at=opened_at,
                taken=taken_at is not None and taken_at < end,
            )
            for ident, stage, priority, opened_at, taken_at in overdue_rows
        ],
    )


# ---------------------------------------------------------------------------------------------
# Entry points


def load_report_inputs(
    conn: Connection,
    week: str,
    *,
    timezone: str,
    stages: Sequence[StageRef],
    trend_weeks: int = 8,
) -> ReportInputs:
    """Return everything the weekly report of ``week`` needs, aggregated in the database."""
    weeks = input_weeks(week, trend_weeks)
    recent = [shift_week(week, -1), week]
    scores, answers = score_counts(conn, weeks, timezone)
    return ReportInputs(
        week=week,
        timezone=timezone,
        stages=list(stages),
        weeks=weeks,
        scores=scores,
        funnel=funnel_counts(conn, recent, timezone, answers),
        topics=topic_counts(conn, recent, timezone),
        verbatims=verbatim_candidates(conn, week, timezone),
        escalations=[escalation_counts(conn, w, timezone) for w in recent],
    )


def latest_answer_week(conn: Connection, timezone: str) -> str | None:
    """Return the week of the newest stored answer (None when there is none)."""
    newest = conn.execute(select(func.max(_RESPONSES.c.answered_at))).scalar_one_or_none()
    if newest is None:
        return None
    if isinstance(newest, str):  # SQLite's max() over the column returns its stored text
        newest = datetime.fromisoformat(newest)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return week_of(newest, timezone)


def last_complete_week(now: datetime, timezone: str) -> str:
    """Return the ISO week before the one ``now`` falls in (the week a Monday summary covers)."""
    return shift_week(week_of(now, timezone), -1)


def weekly_report(
    conn: Connection,
    *,
    now: datetime,
    timezone: str,
    stages: Sequence[StageRef],
    week: str | None = None,
    language: str = "en",
    min_n: int = 30,
) -> WeeklyReport:
    """Return the weekly report of ``week`` (default: the last complete week before ``now``)."""
    target = week or last_complete_week(now, timezone)
    raw = load_report_inputs(conn, target, timezone=timezone, stages=stages)
    return build_report(raw, language=language, min_n=min_n, now=now)


__all__ = [
    "escalation_counts",
    "funnel_counts",
    "last_complete_week",
    "latest_answer_week",
    "load_report_inputs",
    "score_counts",
    "topic_counts",
    "verbatim_candidates",
    "weekly_report",
]
