"""Turning journey texts into what the customer reads: placeholders and answer choices."""

from __future__ import annotations

from collections.abc import Mapping

from flows.conversation.actions import Choice
from flows.journey import Journey, Stage, Texts
from flows.scales import Lang, Metric, Sentiment

# Used when an event did not carry the value, so a question never shows an empty gap.
_FALLBACKS: dict[str, dict[Lang, str]] = {
    "product": {Lang.IT: "il tuo acquisto", Lang.EN: "your purchase"},
    "order": {Lang.IT: "—", Lang.EN: "—"},
    "ticket": {Lang.IT: "—", Lang.EN: "—"},
    "name": {Lang.IT: "", Lang.EN: ""},
}


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(journey: Journey, texts: Texts, lang: Lang, placeholders: Mapping[str, str] | None = None) -> str:
    """Return ``texts`` in ``lang`` with {brand}, {order}, {product}… filled in."""
    values = _Values({key: fallback[lang] for key, fallback in _FALLBACKS.items()})
    values.update(brand=journey.brand, link=journey.review_link, referral=journey.referral_link)
    values.update({k: v for k, v in (placeholders or {}).items() if v})
    return texts(lang).format_map(values).strip()


def score_rows(metric: Metric) -> tuple[tuple[Choice, ...], ...]:
    """Return the score buttons: NPS 0–10 on two rows, CSAT and CES on one."""
    choices = tuple(Choice(label=str(n), value=f"score:{n}") for n in metric.scores())
    if metric is Metric.NPS:
        return (choices[:6], choices[6:])
    return (choices,)


def reason_rows(
    stage: Stage, skip: Texts, lang: Lang, band: Sentiment = Sentiment.NEGATIVE
) -> tuple[tuple[Choice, ...], ...]:
    """Return the stage's reason buttons for a score in ``band``, two per row, then a Skip button."""
    reasons = stage.reasons.for_sentiment(band)
    choices = [Choice(label=r.label(lang), value=f"reason:{r.id}") for r in reasons]
    rows = [tuple(choices[i : i + 2]) for i in range(0, len(choices), 2)]
    rows.append((Choice(label=skip(lang), value="skip"),))
    return tuple(rows)


def language_rows() -> tuple[tuple[Choice, ...], ...]:
    """Return the language choice buttons."""
    return ((Choice(label="🇮🇹 Italiano", value="lang:it"), Choice(label="🇬🇧 English", value="lang:en")),)
