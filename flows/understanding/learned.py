"""The learned negativity model: a logistic regression over ``features``, scored in pure Python.

The model file (``negativity_model.json``, package data next to this module) is written by
``make train-nlu`` (``scripts/train_nlu.py``). It holds the bias, one weight per feature and the
threshold of each language, chosen on the training corpora for recall >= 90%. Loading it reads
package data once, at import, through ``importlib.resources``: no network, no scikit-learn, no
numpy at run time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources

from flows.understanding.features import (
    TextFeatures,
    char_grams,
    rule_features,
    scale,
    text_features,
    vector,
)

MODEL_FILE = "negativity_model.json"
#: Words whose character score is kept; past this the cache starts again (memory stays bounded).
WORD_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class LinearModel:
    """A logistic regression: ``p = sigmoid(bias + sum(weight[f] * x[f]))``."""

    bias: float
    weights: dict[str, float]
    thresholds: dict[str, float]  # per language code ("it", "en"): the probability that flags a comment
    #: Rule triggers precise enough on the training corpora to call a comment negative alone.
    precise_triggers: frozenset[str] = frozenset()
    _word_cache: dict[str, tuple[float, int]] = field(default_factory=dict, compare=False, repr=False)

    def threshold(self, lang: str) -> float:
        """Return the threshold of a language (the lowest, which flags most, for one not trained on)."""
        return self.thresholds.get(lang, min(self.thresholds.values(), default=0.5))

    def logit(self, vec: dict[str, float]) -> float:
        """Return the model's log-odds that the vector is a comment a human should read."""
        weights = self.weights
        return self.bias + sum(weights.get(f, 0.0) * x for f, x in vec.items())

    def fast_logit(self, feats: TextFeatures, rule_feats: set[str]) -> float:
        """Return ``logit(vector(feats, rule_feats))`` without building the vector (the hot path).

        The character block is the sum of each word's cached n-gram score, so a text costs one
        look-up per word once its words have been seen.
        """
        get = self.weights.get
        z = self.bias + sum(filter(None, map(get, rule_feats)))
        z += sum(filter(None, map(get, feats.words))) * scale(len(feats.words))
        char_sum = char_count = 0.0
        for word in feats.char_words:
            word_sum, word_count = self._word_score(word)
            char_sum += word_sum
            char_count += word_count
        return z + char_sum * scale(int(char_count))

    def _word_score(self, word: str) -> tuple[float, int]:
        """Return (sum of the weights of the word's character n-grams, how many n-grams it has)."""
        cached = self._word_cache.get(word)
        if cached is None:
            grams = char_grams(word)
            cached = (sum(filter(None, map(self.weights.get, grams))), len(grams))
            if len(self._word_cache) >= WORD_CACHE_SIZE:
                self._word_cache.clear()  # bounded memory; common words come back at once
            self._word_cache[word] = cached
        return cached

    def contributions(self, vec: dict[str, float]) -> list[tuple[str, float]]:
        """Return each known feature's share of the log-odds, largest in size first."""
        parts = [(f, self.weights[f] * x) for f, x in vec.items() if f in self.weights]
        return sorted(parts, key=lambda item: (-abs(item[1]), item[0]))


def sigmoid(z: float) -> float:
    """Return the logistic function of ``z``, safe for large magnitudes."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def model_from_json(raw: str) -> LinearModel:
    """Return the model stored in ``raw`` (the content of a model file).

    Raises:
        ValueError: when the content is not a model file of a known format.
    """
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("format") != 1:
        raise ValueError(f"{MODEL_FILE}: unknown model format")
    weights = data["weights"]
    return LinearModel(
        bias=float(data["bias"]),
        weights={str(k): float(v) for k, v in weights.items()},
        thresholds={str(k): float(v) for k, v in data["thresholds"].items()},
        precise_triggers=frozenset(str(t) for t in data.get("precise_triggers", ())),
    )


def _load() -> LinearModel:
    """Return the model shipped with the package."""
    raw = resources.files("flows.understanding").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return model_from_json(raw)


MODEL: LinearModel = _load()


def model_vector(folded: str, rule_negative: bool, rule_topics: tuple[str, ...]) -> dict[str, float]:
    """Return the feature vector of a folded text and the rules' verdict on it (training uses it too)."""
    feats = text_features(folded)
    return vector(feats, rule_features(rule_negative, rule_topics, feats.cues))


def probability(folded: str, rule_negative: bool, rule_topics: tuple[str, ...]) -> float:
    """Return the model's probability that a folded comment needs a human: ``model_vector``, scored fast."""
    feats = text_features(folded)
    return sigmoid(MODEL.fast_logit(feats, rule_features(rule_negative, rule_topics, feats.cues)))
