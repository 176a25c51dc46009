"""Aggregate figures of comment negativity on the blind corpora: never a text, never a single error.

Run: ``.venv/bin/python scripts/nlu_blind_eval.py [--split eval|train] [--classifier model|rules]``.

- ``model``: what the bot does now (``analyse_comment``: learned model + precise rules, with the stage);
- ``rules``: the hand-written rules alone, as before the model (any rule trigger, no stage).

Prints, per file and language: accuracy, complaints caught (recall), false alarms; then, per labelled
topic, how many negative comments were caught and how many non-negative ones were flagged. The
eval split must only ever be looked at through this script (tests/flows/corpus/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.scales import Lang  # noqa: E402
from flows.understanding.negativity import analyse_comment, read_rules  # noqa: E402
from flows.understanding.normalize import fold  # noqa: E402

BLIND = ROOT / "tests" / "flows" / "corpus" / "blind"
Predict = Callable[[dict[str, Any]], bool]


def by_model(row: dict[str, Any]) -> bool:
    """Return the bot's negative flag for a corpus row (model + precise rules, stage-aware)."""
    return analyse_comment(row["text"], Lang(row["lang"]), row.get("stage"))[0]


def by_rules(row: dict[str, Any]) -> bool:
    """Return the hand-written rules' negative flag (any trigger), as before the model."""
    return bool(read_rules(fold(row["text"])).triggers)


CLASSIFIERS: dict[str, Predict] = {"model": by_model, "rules": by_rules}


def load(path: Path) -> list[dict[str, Any]]:
    """Return the rows of one JSONL corpus file."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def figures(rows: list[dict[str, Any]], predict: Predict) -> dict[str, int]:
    """Return the counts behind accuracy, recall and false alarms (tp, fn, fp, tn)."""
    counts = {"tp": 0, "fn": 0, "fp": 0, "tn": 0}
    for row in rows:
        got, want = predict(row), bool(row["negative"])
        counts[("t" if got == want else "f") + ("p" if got else "n")] += 1
    return counts


def line(name: str, c: dict[str, int]) -> str:
    """Return one printed line of figures."""
    n = sum(c.values())
    pos, neg = c["tp"] + c["fn"], c["fp"] + c["tn"]
    return (
        f"  {name:16} n={n:4} acc={(c['tp'] + c['tn']) / n:6.1%} "
        f"recall={c['tp']}/{pos}={c['tp'] / max(pos, 1):6.1%} "
        f"false_alarms={c['fp']}/{neg}={c['fp'] / max(neg, 1):6.1%}"
    )


def by_topic(rows: list[dict[str, Any]], predict: Predict) -> list[str]:
    """Return per-topic lines: negatives caught / labelled, non-negatives flagged / labelled."""
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        got = predict(row)
        for topic in row["topics"] or ["(none)"]:
            cell = cells[topic]
            if row["negative"]:
                cell[0] += got
                cell[1] += 1
            else:
                cell[2] += got
                cell[3] += 1
    return [
        f"  {topic:16} complaints caught {c[0]:3}/{c[1]:<3}  false alarms {c[2]:3}/{c[3]:<3}"
        for topic, c in sorted(cells.items())
    ]


def main() -> None:
    """Print the aggregate figures of one classifier on one split."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("eval", "train"), default="eval")
    parser.add_argument("--classifier", choices=sorted(CLASSIFIERS), default="model")
    args = parser.parse_args()
    predict = CLASSIFIERS[args.classifier]
    every: list[dict[str, Any]] = []
    print(f"{args.classifier} on the blind {args.split} split")
    for path in sorted((BLIND / args.split).glob("*.jsonl")):
        rows = load(path)
        every += rows
        for lang in ("it", "en"):
            print(line(f"{path.stem} {lang}", figures([r for r in rows if r["lang"] == lang], predict)))
    for lang in ("it", "en"):
        print(line(f"ALL {lang}", figures([r for r in every if r["lang"] == lang], predict)))
    print("by labelled topic (all files):")
    print("\n".join(by_topic(every, predict)))


if __name__ == "__main__":
    main()
