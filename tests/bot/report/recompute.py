"""An independent recomputation of the weekly report from ``cxbot export`` rows.

Written from CX_METHOD (§2 formulas, §3 bands, §7 weekly summary and its definitions, §8
intervals) and the report's documented definitions, with scipy/statsmodels for the statistics.
It imports nothing of cxbot: a figure the project computes wrongly cannot be reproduced here by
the same mistake. Used by ``test_recompute.py``.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import yaml
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
Z = float(stats.norm.ppf(0.975))
ROLLING, TREND, INPUT_WEEKS = 4, 8, 11
RECOVERED = ("yes", "resolved")
UNREACHABLE = ("no_channel", "blocked", "opted_out", "expired")
#: Praise topics: what works (issue 15); never complaints.
PRAISE = {
    "fast_delivery",
    "well_packed",
    "as_described",
    "good_product",
    "good_value",
    "easy_ordering",
    "helpful_staff",
    "fast_support",
    "issue_solved",
}
JOURNEY = Path(__file__).resolve().parents[3] / "flows" / "journeys" / "default.yaml"


# ---------------------------------------------------------------------------------------------
# Rows and weeks


def when(value: str | None) -> datetime | None:
    """Parse an exported ISO timestamp (None stays None)."""
    return None if value is None else datetime.fromisoformat(value)


def stamp(value: str | None) -> datetime:
    """Parse an exported ISO timestamp that must be there."""
    assert value is not None
    return datetime.fromisoformat(value)


def week_bounds(week: str, tz: str) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00, local time in ``tz`` (CX_METHOD §7: ISO weeks)."""
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    zone = ZoneInfo(tz)
    return (
        datetime.combine(monday, time(0), tzinfo=zone),
        datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone),
    )


def shift(week: str, k: int) -> str:
    year, number = week.split("-W")
    day = date.fromisocalendar(int(year), int(number), 1) + timedelta(weeks=k)
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def ending(week: str, count: int) -> list[str]:
    return [shift(week, k) for k in range(-(count - 1), 1)]


def inside(moment: datetime | None, bounds: tuple[datetime, datetime]) -> bool:
    return moment is not None and bounds[0] <= moment < bounds[1]


def band(metric: str, score: int) -> str:
    """CX_METHOD §3."""
    negative, positive = {"nps": (6, 9), "csat": (2, 4), "ces": (3, 5)}[metric]
    return "negative" if score <= negative else "positive" if score >= positive else "neutral"


def valid(row: dict[str, Any]) -> bool:
    """An answer with a score on its metric's scale, at a stage."""
    if row["score"] is None or row["stage"] is None or row["metric"] not in SCALES:
        return False
    low, high = SCALES[row["metric"]]
    return bool(low <= row["score"] <= high)


def typed(comment: str | None) -> bool:
    return comment is not None and comment.strip() != ""


# ---------------------------------------------------------------------------------------------
# Statistics (CX_METHOD §8)


def empty(n: int = 0) -> dict[str, Any]:
    return {"n": n, "value": None, "low": None, "high": None, "moe": None, "variance": None}


def wilson(successes: int, n: int) -> dict[str, Any]:
    """Percentage with the Wilson 95 % interval; variance: Agresti–Coull, for comparisons."""
    if n == 0:
        return empty()
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    p_tilde = (successes + Z * Z / 2) / (n + Z * Z)
    return {
        "n": n,
        "value": 100.0 * successes / n,
        "low": 100.0 * low,
        "high": 100.0 * high,
        "moe": 100.0 * (high - low) / 2,
        "variance": 10_000.0 * p_tilde * (1 - p_tilde) / (n + Z * Z),
    }


def mean_t(samples: Sequence[float], bounds: tuple[float, float]) -> dict[str, Any]:
    """Mean with mean ± t(0.975, n−1)·s/√n, the interval clipped to the scale."""
    n = len(samples)
    if n == 0:
        return empty()
    mean = float(np.mean(samples))
    if n < 2:
        return empty(n) | {"value": mean}
    var_mean = float(np.var(samples, ddof=1)) / n
    moe = float(stats.t.ppf(0.975, n - 1)) * math.sqrt(var_mean)
    return {
        "n": n,
        "value": mean,
        "low": min(max(mean - moe, bounds[0]), bounds[1]),
        "high": min(max(mean + moe, bounds[0]), bounds[1]),
        "moe": moe,
        "variance": var_mean,
    }


def nps(samples: Sequence[int]) -> dict[str, Any]:
    """NPS with the adjusted-Wald interval (0.75 added to promoters and detractors, 3 to n)."""
    n = len(samples)
    p = sum(1 for s in samples if s >= 9)
    d = sum(1 for s in samples if s <= 6)
    n_adj = n + 3
    pa, da = (p + 0.75) / n_adj, (d + 0.75) / n_adj
    var = (pa + da - (pa - da) ** 2) / n_adj
    moe = Z * math.sqrt(var)
    return {
        "n": n,
        "value": 100.0 * (p - d) / n,
        "low": 100.0 * max(-1.0, min(1.0, pa - da - moe)),
        "high": 100.0 * max(-1.0, min(1.0, pa - da + moe)),
        "moe": 100.0 * moe,
        "variance": 10_000.0 * var,
        "promoters": p,
        "passives": n - p - d,
        "detractors": d,
    }


def position_of(metric: str, samples: Sequence[int]) -> tuple[dict[str, Any], list[float]]:
    """The mean as % of the scale, and the samples on that 0–100 axis."""
    low, high = SCALES[metric]
    span = high - low
    moved = [100.0 * (s - low) / span for s in samples]
    return mean_t(moved, (0.0, 100.0)), moved


def change(
    a: dict[str, Any] | None, b: dict[str, Any] | None, sa: Sequence[float], sb: Sequence[float], means: bool
) -> dict[str, Any]:
    """a − b with its 95 % interval: Welch's t for means, 1.96·√(Var₁ + Var₂) otherwise."""
    if a is None or b is None or a["value"] is None or b["value"] is None:
        return {"delta": None, "low": None, "high": None, "significant": False}
    delta = a["value"] - b["value"]
    if a["variance"] is None or b["variance"] is None:
        return {"delta": delta, "low": None, "high": None, "significant": False}
    if means and a["variance"] + b["variance"] > 0:
        with warnings.catch_warnings():
            # One sample of identical answers (e.g. 7, 7, 7) has deviations of exactly 0: scipy
            # still warns of "catastrophic cancellation", though none happened and Welch's t is right.
            warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
            ci = stats.ttest_ind(
                np.asarray(sa, float), np.asarray(sb, float), equal_var=False
            ).confidence_interval(0.95)
        half = (ci.high - ci.low) / 2
    elif means:
        half = 0.0
    else:
        half = Z * math.sqrt(a["variance"] + b["variance"])
    return {"delta": delta, "low": delta - half, "high": delta + half, "significant": bool(abs(delta) > half)}


# ---------------------------------------------------------------------------------------------
# Journey map


class Cell:
    """The figures of one set of answers of one stage."""

    def __init__(self, metric: str, samples: list[int], min_n: int) -> None:
        self.metric, self.samples = metric, samples
        n = len(samples)
        self.positions: list[float] = []
        self.data: dict[str, Any] = {"metric": metric, "n": n, "hidden": n < min_n or n == 0}
        self.data |= dict.fromkeys(("headline", "positive", "position", "nps", "csat", "ces"))
        if self.data["hidden"]:
            return
        positive = sum(1 for s in samples if band(metric, s) == "positive")
        position, self.positions = position_of(metric, samples)
        self.data |= {"positive": wilson(positive, n), "position": position}
        low, high = SCALES[metric]
        if metric == "nps":
            figure = nps(samples)
            self.data |= {"nps": figure, "headline": {k: figure[k] for k in empty()}}
        elif metric == "csat":
            pct = wilson(sum(1 for s in samples if s >= 4), n)
            self.data |= {"csat": {"n": n, "pct": pct, "mean": mean_t(samples, (low, high))}, "headline": pct}
        else:
            mean = mean_t(samples, (low, high))
            top = wilson(sum(1 for s in samples if s >= 5), n)
            self.data |= {"ces": {"n": n, "mean": mean, "top_box": top}, "headline": mean}

    def change_to(self, other: Cell) -> dict[str, Any]:
        return change(
            self.data["headline"], other.data["headline"], self.samples, other.samples, self.metric == "ces"
        )


def journey_stages() -> list[tuple[str, str]]:
    data = yaml.safe_load(JOURNEY.read_text(encoding="utf-8"))
    return [(s["id"], s["metric"]) for s in data["stages"]]


def stages_part(answers: list[dict[str, Any]], week: str, tz: str, min_n: int) -> dict[str, Any]:
    weeks = ending(week, INPUT_WEEKS)
    bounds = {w: week_bounds(w, tz) for w in weeks}
    scores: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    by_segment: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
    languages: set[str] = set()
    channels: set[str] = set()
    seen: set[tuple[str, str]] = set()
    total = 0
    for row in answers:
        if not valid(row):
            continue
        at = when(row["answered_at"])
        w = next((w for w in weeks if inside(at, bounds[w])), None)
        if w is None:
            continue
        seen.add((row["stage"], row["metric"]))
        scores[(row["stage"], row["metric"], w)].append(row["score"])
        if w == week:
            total += 1
            languages.add(row["language"])
            channels.add(row["channel"])
            by_segment[(row["stage"], row["metric"], "language", row["language"])].append(row["score"])
            by_segment[(row["stage"], row["metric"], "channel", row["channel"])].append(row["score"])
    order = journey_stages()
    order += sorted(seen - set(order))
    last = shift(week, -1)

    def pooled(stage: str, metric: str, span: Iterable[str]) -> list[int]:
        return [s for w in span for s in scores.get((stage, metric, w), [])]

    stages: list[dict[str, Any]] = []
    for position, (stage, metric) in enumerate(order):
        cell = {
            "this_week": Cell(metric, pooled(stage, metric, [week]), min_n),
            "last_week": Cell(metric, pooled(stage, metric, [last]), min_n),
            "rolling_4w": Cell(metric, pooled(stage, metric, ending(week, ROLLING)), min_n),
            "previous_4w": Cell(metric, pooled(stage, metric, ending(last, ROLLING)), min_n),
        }
        histogram: dict[str, int] = defaultdict(int)
        for s in pooled(stage, metric, [week]):
            histogram[str(s)] += 1
        stages.append(
            {
                "stage": stage,
                "metric": metric,
                "position": position,
                **{k: c.data for k, c in cell.items()},
                "change_week": cell["this_week"].change_to(cell["last_week"]),
                "change_4w": cell["this_week"].change_to(cell["previous_4w"]),
                "distribution": dict(histogram),
                "by_language": {
                    lang: Cell(metric, by_segment.get((stage, metric, "language", lang), []), min_n).data
                    for lang in sorted(languages)
                },
                "by_channel": {
                    ch: Cell(metric, by_segment.get((stage, metric, "channel", ch), []), min_n).data
                    for ch in sorted(channels)
                },
                "trend": [
                    {
                        "week": w,
                        "week_cell": Cell(metric, pooled(stage, metric, [w]), min_n).data,
                        "rolling_4w": Cell(metric, pooled(stage, metric, ending(w, ROLLING)), min_n).data,
                        "rolling_complete": True,
                    }
                    for w in weeks[-TREND:]
                ],
                "_cells": cell,
            }
        )
    weakest = None
    for basis in ("week", "rolling_4w"):
        shown = []
        for entry in stages:
            c = entry["_cells"]["this_week" if basis == "week" else "rolling_4w"]
            if c.data["position"] is not None and c.data["position"]["value"] is not None:
                shown.append((c.data["position"]["value"], entry["position"], entry, c))
        if len(shown) < 2:
            continue
        shown.sort(key=lambda item: (item[0], item[1]))
        (_, _, worst, worst_cell), (_, _, runner, runner_cell) = shown[0], shown[1]
        verdict = change(
            runner_cell.data["position"],
            worst_cell.data["position"],
            runner_cell.positions,
            worst_cell.positions,
            True,
        )
        weakest = {
            "stage": worst["stage"],
            "metric": worst["metric"],
            "basis": basis,
            "value": worst_cell.data["position"],
            "runner_up": runner["stage"],
            "clear": verdict["significant"],
        }
        break
    for entry in stages:
        del entry["_cells"]
    return {"total_answers": total, "stages": stages, "weakest_stage": weakest, "trend_weeks": weeks[-TREND:]}


# ---------------------------------------------------------------------------------------------
# Funnel (CX_METHOD §2, §7 definitions)


def _rate(a: int, b: int) -> float | None:
    return 100.0 * a / b if b > 0 else None


def _unreachable_reason(survey: dict[str, Any]) -> str | None:
    if survey["sent_at"] is not None:
        return None
    status, reason = survey["status"], survey["reason"]
    if status in ("scheduled", "queued") and survey["waiting_for_channel"]:
        return "blocked" if survey["customer_blocked"] else "no_channel"
    if status == "skipped":
        return "opted_out" if reason in (None, "opted_out", "no_consent") else "expired"
    if status == "expired":
        return "expired"
    return None


def _funnel_rows(
    data: dict[str, list[dict[str, Any]]], week: str, tz: str
) -> list[tuple[tuple[str, str, str], dict[str, int]]]:
    start, end = week_bounds(week, tz)
    rows: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in data["surveys"]:
        key = (s["stage"], s["language"] or "", s["channel"] or "")
        due, sent = when(s["due_at"]), when(s["sent_at"])
        delivered = when(s["delivered_at"]) or sent
        r = rows[key]
        if inside(due, (start, end)):
            r["due"] += 1
            if sent is not None and sent < end:
                r["due_sent"] += 1
            if sent is not None and sent >= end:
                r["due_sent_later"] += 1
            if sent is None and s["status"] == "cancelled":
                r["due_cancelled"] += 1
            why = _unreachable_reason(s)
            if why is not None:
                r[f"unreachable_{why}"] += 1
                r["unreachable"] += 1
        if inside(sent, (start, end)):
            r["sent"] += 1
            r["reasked"] += s["reasks"]
            if due is not None and due < start:
                r["sent_late"] += 1
        if inside(delivered, (start, end)):
            r["delivered"] += 1
            if s["answered_at"] is not None:
                r["answered"] += 1
    for a in data["answers"]:
        if valid(a) and inside(when(a["answered_at"]), (start, end)):
            r = rows[(a["stage"], a["language"], a["channel"])]
            r["responses"] += 1
            r["commented"] += typed(a["comment"])
    for c in data["customers"]:
        if inside(when(c["opted_out_at"]), (start, end)):
            rows[("", c["language"], "")]["opted_out"] += 1
    return [(key, dict(r)) for key, r in rows.items() if any(r.values())]


def _figures(rows: Iterable[dict[str, int]]) -> dict[str, Any]:
    names = [
        "due",
        "sent",
        "delivered",
        "answered",
        "responses",
        "commented",
        "reasked",
        "opted_out",
        "unreachable",
        "due_sent",
        "due_sent_later",
        "due_cancelled",
        "sent_late",
    ]
    sums = dict.fromkeys(names, 0)
    reasons = dict.fromkeys(UNREACHABLE, 0)
    for r in rows:
        for name in names:
            sums[name] += r.get(name, 0)
        for why in UNREACHABLE:
            reasons[why] += r.get(f"unreachable_{why}", 0)
    accounted = sums["due_sent"] + sums["due_sent_later"] + sums["unreachable"] + sums["due_cancelled"]
    return sums | {
        "unreachable_by_reason": reasons,
        "due_pending": sums["due"] - accounted,
        "response_rate": _rate(sums["answered"], sums["delivered"]),
        "comment_rate": _rate(sums["commented"], sums["responses"]),
    }


def funnel_part(data: dict[str, list[dict[str, Any]]], week: str, tz: str) -> dict[str, Any]:
    this = _funnel_rows(data, week, tz)
    overall = _figures(r for _, r in this)
    last = _figures(r for _, r in _funnel_rows(data, shift(week, -1), tz))

    def grouped(index: int) -> dict[str, Any]:
        groups: dict[str, list[dict[str, int]]] = defaultdict(list)
        for key, r in this:
            if key[index]:
                groups[key[index]].append(r)
        return {name: _figures(rs) for name, rs in groups.items()}

    rr = None
    if overall["response_rate"] is not None and last["response_rate"] is not None:
        rr = overall["response_rate"] - last["response_rate"]
    return {
        "overall": overall,
        "last_week": last,
        "response_rate_change": rr,
        "by_channel": grouped(2),
        "by_language": grouped(1),
        "by_stage": grouped(0),
    }


# ---------------------------------------------------------------------------------------------
# Comments


def _theme_counts(answers: list[dict[str, Any]], week: str, tz: str) -> dict[tuple[str, str, bool], int]:
    """Per (stage, topic, praise?): complaint topics of the week's negative answers (negative band or
    negative words), and praise topics of any of its answers."""
    bounds = week_bounds(week, tz)
    counts: dict[tuple[str, str, bool], int] = defaultdict(int)
    for a in answers:
        if not inside(when(a["answered_at"]), bounds):
            continue
        in_band = (
            a["metric"] in SCALES and a["score"] is not None and band(a["metric"], a["score"]) == "negative"
        )
        for topic in a["topics"]:
            if topic in PRAISE:
                counts[(a["stage"] or "", topic, True)] += 1
            elif topic and (a["negative"] or in_band):
                counts[(a["stage"] or "", topic, False)] += 1
    return counts


def _top(this: dict[str, int], before: dict[str, int], limit: int) -> list[dict[str, Any]]:
    ranked = sorted((t for t in this if this[t] > 0), key=lambda t: (-this[t], t))[:limit]
    return [
        {"topic": t, "count": this[t], "last_week": before.get(t, 0), "change": this[t] - before.get(t, 0)}
        for t in ranked
    ]


def _summed(
    counts: dict[tuple[str, str, bool], int], praise: bool, stage: str | None = None
) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for (s, topic, p), n in counts.items():
        if p == praise and (stage is None or s == stage):
            out[topic] += n
    return out


def themes_part(answers: list[dict[str, Any]], week: str, tz: str) -> list[dict[str, Any]]:
    this = _theme_counts(answers, week, tz)
    before = _theme_counts(answers, shift(week, -1), tz)
    return _top(_summed(this, False), _summed(before, False), 5)


def stage_themes_part(answers: list[dict[str, Any]], week: str, tz: str) -> list[dict[str, Any]]:
    """Per stage (journey order, then others by name): up to 3 complaint and 3 praise topics."""
    this = _theme_counts(answers, week, tz)
    before = _theme_counts(answers, shift(week, -1), tz)
    named = {s for s, _, _ in this if s}
    journey = [stage for stage, _ in journey_stages()]
    order = [s for s in dict.fromkeys(journey) if s in named] + sorted(named - set(journey))
    out = []
    for stage in order:
        struggles = _top(_summed(this, False, stage), _summed(before, False, stage), 3)
        works = _top(_summed(this, True, stage), _summed(before, True, stage), 3)
        if struggles or works:
            out.append({"stage": stage, "struggles": struggles, "works": works})
    return out


def verbatims_part(answers: list[dict[str, Any]], week: str, tz: str) -> list[dict[str, Any]]:
    """Up to 3 negative and 2 positive typed comments: most extreme first, newest among equals, one
    stage each first (the five most extreme of each stage and sentiment are candidates, 20 at most)."""
    bounds = week_bounds(week, tz)
    groups: dict[tuple[str, str], list[tuple[float, float, dict[str, Any]]]] = defaultdict(list)
    for a in answers:
        at = when(a["answered_at"])
        if not (valid(a) and typed(a["comment"]) and inside(at, bounds)):
            continue
        feel = band(a["metric"], a["score"])
        if feel == "neutral":
            continue
        low, high = SCALES[a["metric"]]
        place = (a["score"] - low) / (high - low)
        extreme = place if feel == "negative" else 1.0 - place
        assert at is not None
        groups[(feel, a["stage"])].append((extreme, -at.timestamp(), a))
    quotes = []
    for feel, limit in (("negative", 3), ("positive", 2)):
        ranked = []  # (rank within its stage, extreme, newest first, answer)
        for (f, _stage), rows in groups.items():
            if f == feel:
                best = sorted(rows, key=lambda item: item[:2])[:5]
                ranked += [(rank, *item) for rank, item in enumerate(best)]
        ranked.sort(key=lambda item: item[:3])  # every stage's best first: the 20 keep all stages heard
        candidates = [item[1:] for item in ranked[:20]]
        candidates.sort(key=lambda item: (item[0], item[1], item[2]["stage"]))
        chosen: list[dict[str, Any]] = []
        stages: set[str] = set()
        for _, _, a in candidates:
            if a["stage"] not in stages and len(chosen) < limit:
                chosen.append(a)
                stages.add(a["stage"])
        for _, _, a in candidates:
            if len(chosen) >= limit:
                break
            if a not in chosen:
                chosen.append(a)
        quotes += [
            {
                "stage": a["stage"],
                "metric": a["metric"],
                "score": a["score"],
                "sentiment": feel,
                "language": a["language"],
                "channel": a["channel"],
                "text": a["comment"].strip(),
            }
            for a in chosen
        ]
    return quotes


# ---------------------------------------------------------------------------------------------
# Closing the loop (CX_METHOD §7)


def escalations_part(data: dict[str, list[dict[str, Any]]], week: str, tz: str) -> dict[str, Any]:
    start, end = week_bounds(week, tz)
    last = week_bounds(shift(week, -1), tz)
    rows = {e["id"]: e for e in data["escalations"]}

    def opened(e: dict[str, Any]) -> datetime:
        return stamp(e["opened_at"])

    taken = [e for e in rows.values() if inside(when(e["taken_at"]), (start, end))]
    asked = [
        q for q in data["closing"] if q["escalation_id"] in rows and inside(when(q["asked_at"]), (start, end))
    ]
    closing: dict[str, int] = defaultdict(int)
    for q in asked:
        answered = when(q["answered_at"])
        closing[q["answer"] if q["answer"] and answered is not None and answered < end else "no_answer"] += 1
    detractors = {
        q["escalation_id"]
        for q in asked
        if rows[q["escalation_id"]]["metric"] == "nps"
        and rows[q["escalation_id"]]["score"] is not None
        and rows[q["escalation_id"]]["score"] <= 6
    }
    recovered = 0
    for ident in detractors:
        given = [
            (stamp(q["answered_at"]), q["id"], q["answer"])
            for q in data["closing"]
            if q["escalation_id"] == ident and q["answer"] and q["answered_at"] is not None
        ]
        given = [g for g in given if g[0] < end]
        if given and max(given)[2] in RECOVERED:
            recovered += 1

    def open_at_end(e: dict[str, Any]) -> bool:
        resolved, sla = when(e["resolved_at"]), when(e["sla_due_at"])
        return opened(e) < end and (resolved is None or resolved >= end) and sla is not None and sla < end

    overdue = sorted((e for e in rows.values() if open_at_end(e)), key=opened)
    sla_week = [e for e in rows.values() if inside(when(e["sla_due_at"]), (start, end))]
    take = [(stamp(e["taken_at"]) - opened(e)).total_seconds() for e in taken]
    resolve = [(stamp(q["asked_at"]) - opened(rows[q["escalation_id"]])).total_seconds() for q in asked]
    return {
        "opened": sum(1 for e in rows.values() if inside(opened(e), (start, end))),
        "opened_last_week": sum(1 for e in rows.values() if inside(opened(e), last)),
        "taken": len(taken),
        "resolved": len(asked),
        "overdue": len(overdue),
        "median_take_hours": median(take) / 3600 if take else None,
        "median_resolve_hours": median(resolve) / 3600 if resolve else None,
        "within_sla_pct": _rate(
            sum(1 for e in sla_week if e["taken_at"] and stamp(e["taken_at"]) <= stamp(e["sla_due_at"])),
            len(sla_week),
        ),
        "closing": dict(closing),
        "detractors_closed": len(detractors),
        "detractors_recovered": recovered,
        "recovery_rate": _rate(recovered, len(detractors)),
        "overdue_items": [
            {
                "ref": f"E-{e['id']}",
                "stage": e["stage"] or "",
                "priority": e["priority"],
                "opened_at": opened(e),
                "taken": e["taken_at"] is not None and stamp(e["taken_at"]) < end,
            }
            for e in overdue[:20]
        ],
    }


# ---------------------------------------------------------------------------------------------
# The whole report, and the comparison


def recompute(data: dict[str, list[dict[str, Any]]], week: str, tz: str, min_n: int) -> dict[str, Any]:
    """Return every figure of the JSON report of ``week``, recomputed from the exported rows."""
    start, end = week_bounds(week, tz)
    return {
        "week": week,
        "period_start": start,
        "period_end": end,
        "timezone": tz,
        "min_n": min_n,
        **stages_part(data["answers"], week, tz, min_n),
        "funnel": funnel_part(data, week, tz),
        "themes": themes_part(data["answers"], week, tz),
        "stage_themes": stage_themes_part(data["answers"], week, tz),
        "verbatims": verbatims_part(data["answers"], week, tz),
        "escalations": escalations_part(data, week, tz),
    }


#: Not figures: the report's language, generation time, display names, the normalisation name
#: and the definitions (checked on their own).
NOT_FIGURES = {"language", "generated_at", "normalisation", "definitions"}
DISPLAY_ONLY = {"label"}


def differences(actual: Any, expected: Any, path: str = "") -> tuple[list[str], int]:
    """Return (mismatches, figures compared) between the report's JSON and the recomputation."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"], 0
        skip = (NOT_FIGURES if path == "" else set()) | DISPLAY_ONLY
        keys_a, keys_e = set(actual) - skip, set(expected) - skip
        problems = [f"{path}.{k}: in the report, not recomputed" for k in sorted(keys_a - keys_e, key=str)]
        problems += [
            f"{path}.{k}: recomputed, missing from the report" for k in sorted(keys_e - keys_a, key=str)
        ]
        compared = 0
        for key in sorted(keys_a & keys_e, key=str):
            more, n = differences(actual[key], expected[key], f"{path}.{key}")
            problems += more
            compared += n
        return problems, compared
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            found = len(actual) if isinstance(actual, list) else actual
            return [f"{path}: {found!r} items, expected {len(expected)}"], 0
        problems, compared = [], 0
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            more, n = differences(a, e, f"{path}[{i}]")
            problems += more
            compared += n
        return problems, compared
    if isinstance(expected, datetime):
        same = isinstance(actual, str) and datetime.fromisoformat(actual) == expected
        return ([] if same else [f"{path}: {actual!r} != {expected.isoformat()}"]), 1
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return ([] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]), 1
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return [f"{path}: {actual!r} != {expected!r}"], 1
    close = math.isclose(actual, expected, rel_tol=1e-7, abs_tol=1e-7)
    return ([] if close else [f"{path}: {actual!r} != {expected!r}"]), 1
