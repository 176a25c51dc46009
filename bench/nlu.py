"""Accuracy and speed of reply understanding on the labelled corpus and the held-out set.

Also prints p50/p99 time per comment of ``analyse_comment`` (learned model + rules) over every
training comment (the blind eval figures are printed by scripts/nlu_blind_eval.py).

Run: ``.venv/bin/python bench/nlu.py`` (``--errors`` lists the misses).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.scales import Lang, Metric
from flows.understanding import analyse_comment, understand

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "flows" / "corpus"


def _load(name: str) -> list[dict[str, Any]]:
    """Return the JSON objects of one corpus file (one per line)."""
    with (CORPUS / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _reply_ok(row: dict[str, Any]) -> tuple[bool, bool, str]:
    """Return (score right, score and intent right, what was returned) for one labelled reply."""
    metric = Metric(row["metric"]) if row["metric"] else None
    got = understand(row["text"], metric, Lang(row["lang"]))
    score_ok = got.score == row["score"]
    return (
        score_ok,
        score_ok and got.intent.value == row["intent"],
        f"{got.intent.value} {got.score} {got.reason}",
    )


def _replies(name: str, show: bool) -> None:
    """Print score and intent accuracy per language × metric for one replies file."""
    rows = _load(name)
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        score_ok, both_ok, got = _reply_ok(row)
        for key in (f"{row['lang']}/{row['metric'] or 'none'}", "ALL"):
            cells[key][0] += int(score_ok)
            cells[key][1] += int(both_ok)
            cells[key][2] += 1
        if show and not both_ok:
            print(
                f"  MISS {row['metric']}/{row['lang']} {row['text']!r}: "
                f"want {row['intent']} {row['score']}, got {got}"
            )
    print(f"{name}: {len(rows)} replies")
    for key in sorted(cells, key=lambda k: (k == "ALL", k)):
        scored, understood, total = cells[key]
        print(f"  {key:10} score {scored / total:6.1%}  score+intent {understood / total:6.1%}  (n={total})")


def _comments(name: str, show: bool) -> None:
    """Print negative-flag accuracy per language and topic recall for one comments file."""
    rows = _load(name)
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        negative, topics = analyse_comment(row["text"], Lang(row["lang"]))
        neg_ok = negative == row["negative"]
        topics_ok = set(row["topics"]) <= {t.value for t in topics}
        for key in (row["lang"], "ALL"):
            cells[key][0] += int(neg_ok)
            cells[key][1] += int(topics_ok)
            cells[key][2] += 1
        if show and not (neg_ok and topics_ok):
            print(
                f"  MISS {row['lang']} {row['text']!r}: want {row['negative']} {row['topics']}, "
                f"got {negative} "
                f"{[t.value for t in topics]}"
            )
    print(f"{name}: {len(rows)} comments")
    for key in sorted(cells, key=lambda k: (k == "ALL", k)):
        flagged, recalled, total = cells[key]
        print(
            f"  {key:4} negative flag {flagged / total:6.1%}  "
            f"topics recalled {recalled / total:6.1%}  (n={total})"
        )


def _speed() -> None:
    """Print the mean time per reply over every corpus reply, repeated."""
    rows = _load("replies.jsonl") + _load("holdout_replies.jsonl")
    inputs = [(r["text"], Metric(r["metric"]) if r["metric"] else None, Lang(r["lang"])) for r in rows]
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for text, metric, lang in inputs:
            understand(text, metric, lang)
    elapsed = time.perf_counter() - start
    print(f"speed: {elapsed / (rounds * len(inputs)) * 1e6:.1f} µs per reply ({rounds * len(inputs)} calls)")


def _comment_speed() -> None:
    """Print p50/p99 time per comment (wall clock and CPU) over the project's and blind training comments.

    CPU time is printed next to wall time because on a shared machine a wall-clock p99 mostly
    measures the scheduler (another process running), not the code.
    """
    rows = _load("comments.jsonl") + _load("holdout_comments.jsonl")
    for path in sorted((CORPUS / "blind" / "train").glob("*.jsonl")):
        rows += _load(str(path.relative_to(CORPUS)))
    inputs = [(r["text"], Lang(r["lang"]), r.get("stage")) for r in rows]
    for text, lang, stage in inputs:  # warm-up: regexes compiled, each word's score cached once
        analyse_comment(text, lang, stage)
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(3):
        for text, lang, stage in inputs:
            start, start_cpu = time.perf_counter(), time.thread_time()
            analyse_comment(text, lang, stage)
            cpu.append(time.thread_time() - start_cpu)
            wall.append(time.perf_counter() - start)
    for name, times in (("wall", wall), ("cpu", cpu)):
        times.sort()
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        print(
            f"comment speed ({name}): p50 {p50 * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs, "
            f"max {times[-1] * 1e6:.0f} µs per comment ({len(times)} calls over {len(inputs)} comments)"
        )


def main() -> None:
    """Run every measure and print it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--errors", action="store_true", help="list each miss")
    args = parser.parse_args()
    for name in ("replies.jsonl", "holdout_replies.jsonl"):
        if (CORPUS / name).exists():
            _replies(name, args.errors)
    for name in ("comments.jsonl", "holdout_comments.jsonl"):
        if (CORPUS / name).exists():
            _comments(name, args.errors)
    if (CORPUS / "replies.jsonl").exists():
        _speed()
    _comment_speed()


if __name__ == "__main__":
    main()
