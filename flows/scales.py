"""The three rating scales (CX_METHOD §1, §3) and how a score is classified."""

from __future__ import annotations

from enum import StrEnum


class Metric(StrEnum):
    """A rating scale: NPS 0–10, CSAT 1–5, CES 2.0 1–7 agreement."""

    NPS = "nps"
    CSAT = "csat"
    CES = "ces"

    @property
    def low(self) -> int:
        """Return the lowest valid score."""
        return 0 if self is Metric.NPS else 1

    @property
    def high(self) -> int:
        """Return the highest valid score."""
        return {Metric.NPS: 10, Metric.CSAT: 5, Metric.CES: 7}[self]

    def in_range(self, score: int) -> bool:
        """Return True when ``score`` is on this scale."""
        return self.low <= score <= self.high

    def scores(self) -> range:
        """Return every valid score, lowest first."""
        return range(self.low, self.high + 1)


class Lang(StrEnum):
    """A conversation language."""

    IT = "it"
    EN = "en"


class Sentiment(StrEnum):
    """Where a score falls on its scale (CX_METHOD §3)."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


# Upper bound of the negative band and lower bound of the positive band, per metric.
_BANDS: dict[Metric, tuple[int, int]] = {
    Metric.NPS: (6, 9),
    Metric.CSAT: (2, 4),
    Metric.CES: (3, 5),
}


def sentiment(metric: Metric, score: int) -> Sentiment:
    """Return whether ``score`` is negative, neutral or positive on ``metric``.

    Raises:
        ValueError: when the score is outside the scale.
    """
    if not metric.in_range(score):
        raise ValueError(f"{score} is outside the {metric.value} scale {metric.low}–{metric.high}")
    negative_max, positive_min = _BANDS[metric]
    if score <= negative_max:
        return Sentiment.NEGATIVE
    if score >= positive_min:
        return Sentiment.POSITIVE
    return Sentiment.NEUTRAL
