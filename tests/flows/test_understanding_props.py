"""Property tests: the understander never raises and never returns a score off the scale."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flows.scales import Lang, Metric
from flows.understanding import Intent, analyse_comment, understand

_metrics = st.sampled_from([*Metric, None])
_langs = st.sampled_from(list(Lang))
# Text that looks like replies: digits, number words, emoji, stars, separators, plus anything at all.
_pieces = st.sampled_from(
    [
        "8",
        "10",
        "1 0",
        "7,5",
        "/",
        "su",
        "out of",
        "otto",
        "sei",
        "one",
        "⭐",
        "★",
        "*",
        "8️⃣",
        "🔟",
        "👍",
        "💯",
        "anzi",
        "no",
        "giorni",
        "#",
        "stop",
        "boh",
        "non",
        "male",
        " ",
        ",",
        "...",
        "voto",
        "stelle",
    ]
)
_texty = st.lists(_pieces, max_size=30).map(" ".join)
_any_text = st.text(max_size=4096)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(_texty, _any_text), metric=_metrics, lang=_langs)
def test_never_raises_and_score_on_scale(text: str, metric: Metric | None, lang: Lang) -> None:
    """Any text up to 4096 characters gives an understanding whose score is on the asked scale."""
    result = understand(text, metric, lang)
    if result.score is not None:
        assert metric is not None
        assert metric.in_range(result.score)
        assert result.intent is Intent.SCORE
    if metric is None:
        assert result.intent not in {Intent.SCORE, Intent.REASK}
    if result.intent is Intent.REASK:
        assert result.reason is not None


@settings(max_examples=200, deadline=None)
@given(text=_any_text, lang=_langs)
def test_analyse_comment_never_raises(text: str, lang: Lang) -> None:
    """analyse_comment returns a bool and a tuple of topics for any text."""
    negative, topics = analyse_comment(text, lang)
    assert isinstance(negative, bool)
    assert isinstance(topics, tuple)


@settings(max_examples=100, deadline=None)
@given(metric=st.sampled_from(list(Metric)), lang=_langs, data=st.data())
def test_every_in_range_digit_is_read(metric: Metric, lang: Lang, data: st.DataObject) -> None:
    """A bare in-range integer, with or without trailing punctuation, is that score."""
    score = data.draw(st.integers(metric.low, metric.high))
    tail = data.draw(st.sampled_from(["", "!", ".", " ", "!!"]))
    assert understand(f"{score}{tail}", metric, lang).score == score
