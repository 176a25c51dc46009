"""Reply understanding over the labelled corpus and the policy's own examples."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from flows.scales import Lang, Metric
from flows.topics import Topic
from flows.understanding import Intent, ReaskReason, Understanding, analyse_comment, understand

CORPUS = Path(__file__).parent / "corpus"


def _load(name: str) -> list[dict[str, Any]]:
    with (CORPUS / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _ask(row: dict[str, Any]) -> Understanding:
    metric = Metric(row["metric"]) if row["metric"] else None
    return understand(row["text"], metric, Lang(row["lang"]))


REPLIES = _load("replies.jsonl")
COMMENTS = _load("comments.jsonl")


def test_corpus_is_big_enough() -> None:
    """The corpus has at least 300 replies and 150 comments, in both languages and all metrics."""
    assert len(REPLIES) >= 300
    assert len(COMMENTS) >= 150
    assert {(r["lang"], r["metric"]) for r in REPLIES} >= {(lang, m) for lang in ("it", "en") for m in Metric}
    assert {c["lang"] for c in COMMENTS} == {"it", "en"}


def test_holdout_is_big_enough() -> None:
    """The held-out set has at least 100 replies and 60 comments."""
    assert len(_load("holdout_replies.jsonl")) >= 100
    assert len(_load("holdout_comments.jsonl")) >= 60


def test_corpus_score_accuracy_at_least_95_percent() -> None:
    """At least 95% of corpus replies get exactly the expected score (null included)."""
    misses = [r["text"] for r in REPLIES if _ask(r).score != r["score"]]
    assert 1 - len(misses) / len(REPLIES) >= 0.95, misses


def test_corpus_intent_accuracy_at_least_95_percent() -> None:
    """At least 95% of corpus replies get the expected intent."""
    misses = [r["text"] for r in REPLIES if _ask(r).intent.value != r["intent"]]
    assert 1 - len(misses) / len(REPLIES) >= 0.95, misses


def test_corpus_negative_flag_accuracy_at_least_90_percent() -> None:
    """At least 90% of corpus comments get the expected negative flag."""
    misses = [c["text"] for c in COMMENTS if analyse_comment(c["text"], Lang(c["lang"]))[0] != c["negative"]]
    assert 1 - len(misses) / len(COMMENTS) >= 0.90, misses


def test_corpus_topics_recalled_at_least_85_percent() -> None:
    """At least 85% of corpus comments get all their expected topics."""
    misses = [
        c["text"]
        for c in COMMENTS
        if not set(c["topics"]) <= {t.value for t in analyse_comment(c["text"], Lang(c["lang"]))[1]}
    ]
    assert 1 - len(misses) / len(COMMENTS) >= 0.85, misses


def test_corpus_labels_are_valid() -> None:
    """Every corpus label names a real intent, an in-range score and real topics."""
    for row in REPLIES:
        Intent(row["intent"])
        assert (row["score"] is None) == (row["intent"] != "score"), row
        if row["score"] is not None:
            assert Metric(row["metric"]).in_range(row["score"]), row
    for row in COMMENTS:
        for topic in row["topics"]:
            Topic(topic)


@pytest.mark.parametrize(
    ("text", "metric", "score"),
    [
        ("otto", Metric.NPS, 8),
        ("9/10", Metric.NPS, 9),
        ("voto 7", Metric.NPS, 7),
        ("⭐⭐⭐⭐", Metric.CSAT, 4),
        ("9... anzi no, 8", Metric.NPS, 8),
        ("7 sorry I meant 9", Metric.NPS, 9),
        ("8️⃣", Metric.NPS, 8),
        ("🔟", Metric.NPS, 10),
        ("dieci e lode", Metric.NPS, 10),
        ("10 su 10", Metric.NPS, 10),
        ("4 su 5", Metric.CSAT, 4),
        ("6/7", Metric.CES, 6),
        ("*****", Metric.CSAT, 5),
        ("Non so, forse 7", Metric.NPS, 7),
        ("Probably an 8", Metric.NPS, 8),
        ("(9)", Metric.NPS, 9),
        ("Top, 10", Metric.NPS, 10),
        ("Estremamente probabile", Metric.NPS, 10),
        ("Strongly disagree", Metric.CES, 1),
        ("ho aspettato 12 giorni, voto 4", Metric.NPS, 4),
    ],
)
def test_policy_scores(text: str, metric: Metric, score: int) -> None:
    """The policy's scoring examples give the expected score."""
    result = understand(text, metric, Lang.IT)
    assert (result.intent, result.score) == (Intent.SCORE, score)


@pytest.mark.parametrize(
    ("text", "metric", "reason"),
    [
        ("11", Metric.NPS, ReaskReason.OUT_OF_RANGE),
        ("0", Metric.CSAT, ReaskReason.OUT_OF_RANGE),
        ("7,5", Metric.NPS, ReaskReason.DECIMAL),
        ("otto e mezzo", Metric.NPS, ReaskReason.DECIMAL),
        ("tra 7 e 8", Metric.NPS, ReaskReason.RANGE),
        ("7-8", Metric.NPS, ReaskReason.RANGE),
        ("8/10", Metric.CSAT, ReaskReason.OTHER_SCALE),
        ("5/5", Metric.NPS, ReaskReason.OTHER_SCALE),
        ("⭐⭐⭐⭐⭐", Metric.NPS, ReaskReason.STARS_NOT_ALLOWED),
        ("👍", Metric.NPS, ReaskReason.EMOJI),
        ("💯", Metric.NPS, ReaskReason.EMOJI),
        ("1 0", Metric.NPS, ReaskReason.TYPO),
        ("10, sì certo, come no...", Metric.NPS, ReaskReason.SARCASM),
        ("1, facilissimo!", Metric.CES, ReaskReason.CONTRADICTION),
        ("9 il prodotto, 5 la consegna", Metric.NPS, ReaskReason.SEVERAL),
        ("abbastanza bene", Metric.NPS, ReaskReason.UNCLEAR),
        ("d'accordo", Metric.CES, ReaskReason.UNCLEAR),
    ],
)
def test_policy_reasks(text: str, metric: Metric, reason: ReaskReason) -> None:
    """The policy's re-ask examples give no score and the matching reason."""
    result = understand(text, metric, Lang.IT)
    assert (result.intent, result.score, result.reason) == (Intent.REASK, None, reason)


def test_score_with_comment_splits_them() -> None:
    """A score plus words keeps the words as the comment and reads them for negativity and topics."""
    result = understand("8, la consegna era in ritardo", Metric.NPS, Lang.IT)
    assert result == Understanding(
        intent=Intent.SCORE,
        score=8,
        comment="la consegna era in ritardo",
        negative=True,
        topics=(Topic.LATE_DELIVERY,),
    )


def test_counted_numbers_are_not_scores() -> None:
    """Days, order numbers and '0 problemi' are not scores; a complaint without a score is a comment."""
    result = understand("10 giorni di ritardo", Metric.NPS, Lang.IT)
    assert (result.intent, result.score, result.negative) == (Intent.COMMENT, None, True)
    assert understand("ordine #1001, voto 9", Metric.NPS, Lang.IT).score == 9
    assert understand("0 problemi", Metric.NPS, Lang.IT).score is None


def test_ambiguous_words_only_alone() -> None:
    """'sei', 'uno' and 'one' are numbers alone, pronouns or verbs in a sentence."""
    assert understand("sei", Metric.NPS, Lang.IT).score == 6
    assert understand("Sei stati gentilissimi", Metric.NPS, Lang.IT).score is None
    assert understand("uno dei migliori negozi", Metric.CSAT, Lang.IT).score is None
    assert understand("one", Metric.CSAT, Lang.EN).score == 1
    assert understand("the best one so far", Metric.CSAT, Lang.EN).score is None


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("stop", Intent.OPT_OUT),
        ("STOP", Intent.OPT_OUT),
        ("Basta con questi messaggi", Intent.OPT_OUT),
        ("cancellami", Intent.OPT_OUT),
        ("unsubscribe", Intent.OPT_OUT),
        ("non scrivermi più", Intent.OPT_OUT),
        ("non so", Intent.REFUSE),
        ("boh", Intent.REFUSE),
        ("skip", Intent.REFUSE),
        ("not now", Intent.REFUSE),
        ("later", Intent.REFUSE),
        ("preferisco non rispondere", Intent.REFUSE),
        ("Mai arrivato!", Intent.COMMENT),
    ],
)
def test_non_score_intents(text: str, intent: Intent) -> None:
    """Opt-outs, refusals and complaints without a score are recognised while a question is open."""
    assert understand(text, Metric.CSAT, Lang.IT).intent is intent


def test_no_question_open_never_scores() -> None:
    """With no metric, a number is a comment and the usual intents still apply."""
    assert understand("8", None, Lang.IT).intent is Intent.COMMENT
    assert understand("ciao", None, Lang.IT).intent is Intent.GREETING
    assert understand("voglio parlare con un operatore", None, Lang.IT).intent is Intent.HUMAN


def test_language_request_sets_language() -> None:
    """'english please' and 'in italiano' ask for a language."""
    assert understand("english please", Metric.NPS, Lang.IT).language is Lang.EN
    assert understand("in italiano per favore", Metric.NPS, Lang.EN).language is Lang.IT


def test_negations_are_not_negative() -> None:
    """'non male', 'not bad' and 'nessun problema' are not complaints; neutral facts are not either."""
    texts = (
        "non male",
        "not bad",
        "nessun problema",
        "L'ho fatto lasciare al vicino come avevo chiesto",
        "Non l'ho ancora aperto",
    )
    assert [analyse_comment(text, Lang.IT)[0] for text in texts] == [False] * len(texts)


def test_mixed_and_lukewarm_complaints_are_negative() -> None:
    """A concrete complaint inside praise, or a grievance after a lukewarm opener, is negative."""
    assert analyse_comment("ottimo prodotto, peccato che la scatola fosse distrutta", Lang.IT)[0]
    assert analyse_comment("friendly but my issue is still not fixed", Lang.EN)[0]
    assert analyse_comment("poteva andare meglio, il corriere non ha citofonato", Lang.IT)[0]


def test_speed_well_under_a_millisecond() -> None:
    """The mean time per corpus reply stays well under 1 ms."""
    inputs = [(r["text"], Metric(r["metric"]) if r["metric"] else None, Lang(r["lang"])) for r in REPLIES]
    start = time.perf_counter()
    for text, metric, lang in inputs * 3:
        understand(text, metric, lang)
    assert (time.perf_counter() - start) / (3 * len(inputs)) < 0.001
