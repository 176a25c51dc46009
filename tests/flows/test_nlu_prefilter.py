"""Reading comments fast gives the same answers: the fold fast path and the rule prefilter."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from flows.understanding import negativity
from flows.understanding.features import comment_text
from flows.understanding.normalize import fold, normalize
from flows.understanding.prefilter import Prefilter, needles

CORPUS = Path(__file__).parent / "corpus"
# Letters the lexicons are made of, plus accents, emoji, keycaps and the rewritten marks.
_ALPHABET = st.sampled_from(
    list("abcdeilmnoprstuvwy '.,!?-0123456789") + list("àèéìòùÈ👍🏽😡…’🔟½\u20e3\ufe0f")
)


def _scan_without_prefilter(text: str) -> tuple[list[str], list[str]]:
    """Return what ``_scan`` finds when every pattern runs (the prefilter told that all may match)."""
    everything = Prefilter(tuple(None for _ in negativity._SCANNED), None, {})
    original = negativity._PREFILTER
    negativity._PREFILTER = everything
    try:
        triggers, topics = negativity._scan(text)
    finally:
        negativity._PREFILTER = original
    return triggers, [t.value for t in topics]


def _corpus_texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.glob("*.jsonl")) + sorted((CORPUS / "blind" / "train").glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    return texts


def test_prefilter_changes_no_rule_reading_on_the_training_corpora() -> None:
    """On every reply and training comment, the rules find the same triggers and topics with the prefilter."""
    for text in _corpus_texts():
        folded = fold(text)
        triggers, topics = negativity._scan(folded)
        assert (triggers, [t.value for t in topics]) == _scan_without_prefilter(folded), folded


@given(st.text(_ALPHABET, max_size=80))
def test_prefilter_changes_no_rule_reading_on_any_text(text: str) -> None:
    """On any text, the rules find the same triggers and topics with the prefilter as without it."""
    folded = fold(text)
    triggers, topics = negativity._scan(folded)
    assert (triggers, [t.value for t in topics]) == _scan_without_prefilter(folded)


def test_needles_are_in_every_match() -> None:
    """A pattern's needles are literal strings every match contains; a case-blind pattern has none."""
    assert needles(re.compile(r"\b(?:rott[oaie]|broken)\b")) == frozenset({"rott", "broken"})
    lazy_words = re.compile(r"\bnon\b(?:\s+\w+){0,3}?\s+(?:risolt\w*|sistemat\w*)")
    assert needles(lazy_words) == frozenset({"risolt", "sistemat"})
    assert needles(re.compile(r"(?:a|\w)x")) == frozenset({"x"})
    assert needles(re.compile(r"\w+")) is None
    assert needles(re.compile("refund", re.I)) is None


def test_prefilter_skips_only_patterns_that_cannot_match() -> None:
    """Only patterns whose needles are absent are skipped; a found needle also counts its needle prefixes."""
    prefilter = Prefilter.of(
        [re.compile(r"\bnon\b"), re.compile(r"non funziona"), re.compile(r"\w+"), re.compile("x")]
    )
    assert prefilter.possible("ora non funziona") == [True, True, True, False]
    assert prefilter.possible("tutto ok") == [False, False, True, False]


@given(st.text(_ALPHABET, max_size=60))
def test_fold_is_the_text_of_normalize(text: str) -> None:
    """The fast fold gives exactly the folded text of the indexed normalisation."""
    assert fold(text) == normalize(text).text


def test_comment_text_drops_a_leading_score_only() -> None:
    """A score opening a comment is not read as words; a number inside or a long number stays."""
    assert comment_text("9/10 Ottimo servizio") == "ottimo servizio"
    assert comment_text("4, corriere gentile") == "corriere gentile"
    assert comment_text("10 out of 10 great") == "great"
    assert comment_text("ordered 3 times, 2 broke") == "ordered 3 times, 2 broke"
    assert comment_text("2024 was fine") == "2024 was fine"
