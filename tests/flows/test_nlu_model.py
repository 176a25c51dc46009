"""The learned comment-negativity model: blind figures, the model file, reproducible training, stages.

The blind eval texts are read here only to compute aggregate figures; a failure message never
names a text (tests/flows/corpus/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flows.escalation import Priority, escalation_priority
from flows.scales import Lang, Metric
from flows.topics import Topic
from flows.understanding import analyse_comment, understand
from flows.understanding.features import comment_text, rule_features, text_features
from flows.understanding.learned import MODEL, MODEL_FILE
from flows.understanding.negativity import verdict

ROOT = Path(__file__).resolve().parents[2]
BLIND = ROOT / "tests" / "flows" / "corpus" / "blind"
MODEL_PATH = ROOT / "flows" / "understanding" / MODEL_FILE

# Reached by the committed model on the blind eval split (both files together), as floors.
# Figures and how they compare with the targets: tests/flows/corpus/README.md.
# Today's rules alone reached it 67.2% / 40.8% / 4.2% and en 69.6% / 44.5% / 3.6%. The model of
# five training writers reached it 90.8% / 93.1% / 11.7% and en 90.4% / 94.1% / 13.5%; with seven
# writers (train-F, train-G added) Italian met every target of the issue, English all but false
# alarms (11.7% against 10%). With ten writers (train-H to train-J added) both languages meet every
# target (it 92.4% / 92.3% / 7.5%, en 90.9% / 91.6% / 9.9%). Lead's decision: the ten-writer model
# was chosen on the training writers alone (out of fold it is better in both languages: it 89.1% /
# 90.9% / 12.2% against 87.7% / 90.9% / 15.2%, en 87.6% / 90.8% / 14.7% against 86.4% / 90.8% /
# 17.2%), so the floors are its figures: Italian recall and English accuracy and recall went down a
# little (it 121 → 120 complaints caught, en 113 → 109) for fewer false alarms (it 11 → 9, en 13 → 11),
# and every floor still meets the targets (accuracy and recall >= 90%, false alarms <= 10%).
FLOORS = {
    "it": {"accuracy": 0.924, "recall": 0.923, "false_alarms": 0.075},  # 231/250, 120/130, 9/120
    "en": {"accuracy": 0.908, "recall": 0.915, "false_alarms": 0.100},  # 209/230, 109/119, 11/111
}


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _eval_rows() -> list[dict[str, Any]]:
    return [row for path in sorted((BLIND / "eval").glob("*.jsonl")) for row in _load(path)]


@pytest.mark.parametrize("lang", ["it", "en"])
def test_blind_eval_figures_hold(lang: str) -> None:
    """On the blind eval split, accuracy, complaints caught and false alarms stay at the reached figures."""
    rows = [r for r in _eval_rows() if r["lang"] == lang]
    got = [analyse_comment(r["text"], Lang(lang), r["stage"])[0] for r in rows]
    want = [bool(r["negative"]) for r in rows]
    positives = sum(want)
    figures = {
        "accuracy": sum(g == w for g, w in zip(got, want, strict=True)) / len(rows),
        "recall": sum(g and w for g, w in zip(got, want, strict=True)) / positives,
        "false_alarms": sum(g and not w for g, w in zip(got, want, strict=True)) / (len(rows) - positives),
    }
    floor = FLOORS[lang]
    assert figures["accuracy"] >= floor["accuracy"], figures
    assert figures["recall"] >= floor["recall"], figures
    assert figures["false_alarms"] <= floor["false_alarms"], figures


TRAINING_WRITERS = {
    "train-A",
    "train-B",
    "train-C",
    "train-D",
    "train-E",
    "train-F",
    "train-G",
    "train-H",
    "train-I",
    "train-J",
}


def test_eval_split_is_apart_from_training() -> None:
    """The ten training writers wrote the training files, one each; no eval writer wrote any of them."""
    eval_writers = {r["writer"] for r in _eval_rows()}
    by_file = {p.stem: {r["writer"] for r in _load(p)} for p in sorted((BLIND / "train").glob("*.jsonl"))}
    assert by_file == {f"train_{w[-1]}": {w} for w in TRAINING_WRITERS}
    assert eval_writers == {"eval-1", "eval-2"}
    assert eval_writers.isdisjoint(TRAINING_WRITERS)
    assert len(_eval_rows()) >= 400
    assert sum(len(_load(p)) for p in (BLIND / "train").glob("*.jsonl")) >= 2000


def test_model_file_is_small_and_loads_without_network_or_sklearn() -> None:
    """The model file is under 5 MB and loads with sockets disabled, importing no scikit-learn or numpy."""
    assert MODEL_PATH.stat().st_size < 5_000_000
    code = (
        "import socket, sys\n"
        "def _no_network(*a, **k): raise OSError('network used')\n"
        "socket.socket = _no_network; socket.create_connection = _no_network\n"
        "from flows.understanding.learned import MODEL\n"
        "from flows.understanding import analyse_comment\n"
        "from flows.scales import Lang\n"
        "analyse_comment('non è mai arrivato', Lang.IT)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'sklearn', 'numpy', 'scipy'})\n"
        "print(len(MODEL.weights), ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    count, heavy = out.stdout.split(" ", 1)
    assert int(count) > 1000
    assert heavy.strip() == ""


@pytest.mark.slow
def test_training_reproduces_the_committed_model() -> None:
    """Training again from the repo's training corpora with the same seed writes the committed file exactly.

    This also shows the thresholds and precise triggers in the file were chosen on training data:
    the training script reads the eval split only to drop texts it shares with it.
    """
    out = subprocess.run(
        [sys.executable, "scripts/train_nlu.py", "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "reproduced exactly" in out.stdout


def _training_script() -> Any:
    spec = importlib.util.spec_from_file_location("train_nlu", ROOT / "scripts" / "train_nlu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_nlu"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_threshold_is_the_highest_with_ninety_percent_recall_per_language() -> None:
    """Each language's threshold is the highest at which 90% of its negatives are caught out of fold."""
    train = _training_script()
    rows = [{"lang": lang, "negative": i < 10, "writer": "w"} for lang in ("it", "en") for i in range(20)]
    # it: negatives at 0.95 .. 0.50 (step 0.05), en: at 0.90 .. 0.45; positives below all of them.
    probs = np.array(
        [0.95 - 0.05 * i if i < 10 else 0.1 for i in range(20)]
        + [0.90 - 0.05 * i if i < 10 else 0.1 for i in range(20)]
    )
    none_precise = np.zeros(40, dtype=bool)
    chosen = train.choose_thresholds(rows, probs, none_precise)
    assert chosen == pytest.approx({"it": 0.55, "en": 0.50}, abs=1e-3)
    # A negative a precise rule catches needs no threshold: the lowest one caught so, it can rise.
    precise = none_precise.copy()
    precise[9] = True
    assert train.choose_thresholds(rows, probs, precise)["it"] == pytest.approx(0.60, abs=1e-3)


@pytest.mark.slow
def test_training_reads_no_eval_text() -> None:
    """The training rows hold no text of the eval split and no eval writer."""
    train = _training_script()
    eval_keys = {r["text"].strip().lower() for r in _eval_rows()}
    rows = train.training_rows()
    assert not any(r["text"].strip().lower() in eval_keys for r in rows)
    assert {r["writer"] for r in rows}.isdisjoint({r["writer"] for r in _eval_rows()})


def test_nothing_there_after_delivery_is_not_received() -> None:
    """At the delivered stage "nothing was there" is a parcel not received (P1); elsewhere it is not."""
    for text, lang in (
        ("nothing was there when I got home", Lang.EN),
        ("non c'era niente davanti alla porta", Lang.IT),
    ):
        negative, topics = analyse_comment(text, lang, "delivered")
        assert negative
        assert topics[0] is Topic.NOT_RECEIVED
        assert Topic.NOT_RECEIVED not in analyse_comment(text, lang, "first_use")[1]


def test_verdict_names_the_precise_rule_and_the_probability() -> None:
    """A precise rule that flags a comment alone is named, next to the model's probability and threshold."""
    judged = verdict("the courier was really rude to me", Lang.EN)
    assert judged.negative
    assert judged.rule in MODEL.precise_triggers
    assert 0.0 <= judged.probability <= 1.0
    assert judged.threshold == MODEL.thresholds["en"]


def test_happy_comment_is_not_negative() -> None:
    """A plainly happy comment is below the threshold and fires no rule."""
    judged = verdict("tutto perfetto, arrivato in anticipo, grazie mille!", Lang.IT)
    assert not judged.negative
    assert judged.probability < judged.threshold
    assert judged.rule is None


@pytest.mark.parametrize(
    ("text", "lang", "stage"),
    [
        ("9/10 great service, the courier was kind", "en", None),
        ("4, corriere gentile ma il pacco era ammaccato", "it", "delivered"),
        ("10 out of 10, would buy again", "en", "repurchase"),
        ("7 - nothing was there when I got home", "en", "delivered"),
    ],
)
def test_training_reads_the_same_features_as_the_bot(text: str, lang: str, stage: str | None) -> None:
    """Training computes the features and rule triggers the bot scores, a leading score removed in both."""
    served = verdict(text, Lang(lang), stage, explain=True)
    trained, triggers = _training_script().row_reading({"text": text, "lang": lang, "stage": stage})
    assert trained == served.vector
    assert triggers == served.triggers
    assert not any(name.startswith(("w:4", "w:7", "w:9", "w:10")) for name in trained)


@pytest.mark.parametrize(
    ("text", "cues"),
    [
        ("risolto, ora funziona tutto", {"cue:solved"}),
        ("thought it was broken, turned out it was just the box", {"cue:solved"}),
        ("great, love it, thank you", {"cue:pos", "cue:pos=3"}),
        ("spedizione veloce, prodotto perfetto", {"cue:pos", "cue:pos=2"}),
        ("not great and not fixed", set()),
        ("non risolto, non funziona", set()),
        ("arrived today", set()),
    ],
)
def test_happy_cues_are_read_from_praise_and_solved_problems(text: str, cues: set[str]) -> None:
    """Praise words and a problem said to be over are cues; a negator just before cancels them."""
    assert text_features(comment_text(text)).cues == cues


@pytest.mark.parametrize(
    ("text", "cues"),
    [
        ("Buongiorno, pacco arrivato ieri. Cordiali saluti, Anna", {"cue:greet", "cue:signoff"}),
        ("Dear team, the lid was cracked on arrival. Kind regards", {"cue:greet", "cue:signoff"}),
        ("ciao, il coperchio era rotto", {"cue:greet"}),
        ("arrived a day late. Regards, Tom", {"cue:signoff"}),
        ("regards to the courier who left it in the rain: the box was open and the lid was cracked", set()),
        ("the box was open", set()),
    ],
)
def test_greetings_and_sign_offs_are_cues(text: str, cues: set[str]) -> None:
    """A greeting opening a text and a sign-off closing it are cues; the same words elsewhere are not."""
    assert text_features(comment_text(text)).cues == cues


def test_happy_cue_is_paired_with_the_rules_verdict() -> None:
    """A cue beside a complaint rule is a feature of its own: a scary word in a happy message weighs less."""
    cues = frozenset({"cue:solved"})
    assert rule_features(True, ("damaged",), cues) == {
        "cue:solved",
        "cue:solved&r:negative",
        "r:negative",
        "r:topic=damaged",
    }
    assert rule_features(False, (), cues) == {"cue:solved"}


def _two_writers(probs_a: list[float], probs_b: list[float]) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Rows of writers a and b in both languages: ten negatives at the given probabilities, ten positives."""
    rows, probs = [], []
    for lang in ("it", "en"):
        for writer, negatives in (("a", probs_a), ("b", probs_b)):
            for i in range(20):
                rows.append({"lang": lang, "negative": i < 10, "writer": writer})
                probs.append(negatives[i] if i < 10 else 0.0)
    return rows, np.array(probs)


@pytest.mark.slow
def test_held_out_flags_use_thresholds_chosen_without_the_writer() -> None:
    """A writer's comments are flagged with thresholds chosen on the other writers only."""
    train = _training_script()
    rows, probs = _two_writers([0.95 - 0.05 * i for i in range(10)], [0.99 - 0.01 * i for i in range(10)])
    flags = train.held_out_flags(rows, probs, np.zeros(len(rows), dtype=bool), {"it": 0.9, "en": 0.9})
    # a is judged at b's threshold (0.91): one negative of a reaches it; b at a's (0.55): all ten.
    assert flags[:10].sum() == 1
    assert flags[20:30].sum() == 10
    assert not flags[10:20].any() and not flags[30:40].any()


@pytest.mark.slow
def test_recall_target_rises_until_held_out_writers_reach_ninety_percent() -> None:
    """The recall target is 90% when writers are alike, and higher when a held-out writer would fall short."""
    train = _training_script()
    none = np.zeros(80, dtype=bool)
    alike = [0.95 - 0.05 * i for i in range(10)]
    rows, probs = _two_writers(alike, alike)
    assert train.choose_targets(rows, probs, none) == {"it": 0.9, "en": 0.9}
    rows, probs = _two_writers(alike, [0.97 - 0.05 * i for i in range(10)])
    assert min(train.choose_targets(rows, probs, none).values()) > 0.9


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("5, nothing was there when I got home", Lang.EN),
        ("9 ma non c'era niente davanti alla porta", Lang.IT),
    ],
)
def test_delivered_and_nothing_there_is_a_p1_whatever_the_score(text: str, lang: Lang) -> None:
    """A good score with "nothing was there" after a delivery still goes to a human as P1 (not received)."""
    metric = Metric.CSAT if lang is Lang.EN else Metric.NPS
    got = understand(text, metric, lang, "delivered")
    assert got.score is not None and got.negative
    assert escalation_priority(metric, got.score, got.negative, got.topics) is Priority.P1
    elsewhere = understand(text, metric, lang, "first_use")
    assert Topic.NOT_RECEIVED not in elsewhere.topics
