"""What simulated customers type: varied, realistic replies in Italian and English."""

from __future__ import annotations

from random import Random

from flows.scales import Metric

_IT_WORDS = ["zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove", "dieci"]
_EN_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

# Scores each mood tends to give, per metric.
_MOOD_SCORES: dict[str, dict[Metric, tuple[int, ...]]] = {
    "happy": {Metric.NPS: (8, 9, 9, 10, 10), Metric.CSAT: (4, 5, 5), Metric.CES: (5, 6, 7, 7)},
    "neutral": {Metric.NPS: (6, 7, 7, 8), Metric.CSAT: (3, 3, 4), Metric.CES: (4, 4, 5)},
    "angry": {Metric.NPS: (0, 2, 3, 4, 5), Metric.CSAT: (1, 1, 2), Metric.CES: (1, 2, 3)},
}

_COMMENTS = {
    ("it", "happy"): [
        "Tutto perfetto, grazie!",
        "Consegna velocissima e pacco ben imballato",
        "Ottimo prodotto, lo consiglio",
        "Il caffè viene buonissimo",
        "Assistenza gentile e veloce",
    ],
    ("it", "neutral"): [
        "Poteva andare meglio, il corriere è arrivato tardi",
        "Nella media",
        "Il prodotto va bene ma il prezzo è alto",
        "Consegnato dal vicino come avevo chiesto",
    ],
    ("it", "angry"): [
        "Il pacco è arrivato distrutto",
        "Non ho ancora ricevuto niente!",
        "Aspetto ancora il rimborso da due settimane",
        "Il problema non è ancora risolto",
        "L'operatore è stato scortese",
        "Mi è arrivato il colore sbagliato",
    ],
    ("en", "happy"): [
        "Great, thanks!",
        "Fast delivery and well packed",
        "Love the product",
        "Support sorted it out in minutes",
        "Excellent coffee maker",
    ],
    ("en", "neutral"): [
        "Could have been better, the courier was late",
        "It's ok",
        "Good product but pricey",
        "Left with my neighbour as I asked",
    ],
    ("en", "angry"): [
        "The box arrived crushed",
        "Never got it",
        "Still waiting for my refund",
        "My issue isn't resolved",
        "The agent was rude to me",
        "Wrong item in the parcel",
    ],
}


def score_for(rng: Random, metric: Metric, mood: str) -> int:
    """Return a score a customer in ``mood`` would give."""
    return rng.choice(_MOOD_SCORES[mood][metric])


def score_text(rng: Random, metric: Metric, lang: str, score: int) -> str:
    """Return one of the many ways to type ``score``."""
    words = _IT_WORDS if lang == "it" else _EN_WORDS
    forms = [str(score), str(score), f"{score}!", words[score].capitalize()]
    if metric is Metric.NPS:
        forms += [f"{score}/10", f"voto {score}" if lang == "it" else f"{score} out of 10"]
    if metric is Metric.CSAT:
        forms += ["⭐" * score, f"{score} stelle" if lang == "it" else f"{score} stars", f"{score}/5"]
    if metric is Metric.CES:
        forms += [f"{score}/7"]
    return rng.choice(forms)


def unclear_text(rng: Random, lang: str) -> str:
    """Return a reply the bot has to re-ask."""
    return rng.choice(
        ["tra 7 e 8", "abbastanza bene", "mah"] if lang == "it" else ["7-8", "pretty good", "hmm"]
    )


def refusal_text(rng: Random, lang: str) -> str:
    """Return a polite refusal."""
    return rng.choice(["boh", "non so", "preferisco non rispondere"] if lang == "it" else ["skip", "not now"])


def comment_text(rng: Random, lang: str, mood: str) -> str:
    """Return a follow-up comment matching the mood."""
    return rng.choice(_COMMENTS[(lang, mood)])
