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
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from hashlib import blake2b
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


def _slot_key(feature: str | bytes) -> int:
    """Return the feature's 64-bit key, never 0 (stable across processes, unlike ``hash``); a
    feature given as bytes is its UTF-8 encoding."""
    utf8 = feature.encode() if isinstance(feature, str) else feature
    return int.from_bytes(blake2b(utf8, digest_size=8).digest(), "little", signed=True) or 1


class PackedWeights(Mapping[str, float]):
    """The model's weights in two flat arrays, an open-addressing hash table: ~4 MB for 123,000
    features instead of ~32 MB as a dict of strings and floats (a server's resident memory, see
    bench/inbound.py and bench/memory.py), built without ever holding all the names at once.

    A feature is found by its 64-bit key (``_key``): two features sharing a key are as likely as
    one in 10^9 models, and building refuses such a model. Iterating gives no names back (only
    keys are kept); ``contributions`` looks features up by name.
    """

    __slots__ = ("_keys", "_mask", "_size", "_values")

    def __init__(self, weights: Iterable[tuple[str | bytes, float]], *, expected: int = 1 << 17) -> None:
        slots = 1 << 4
        while slots < 2 * expected:
            slots <<= 1
        self._start(slots)
        for name, value in weights:
            self._put(_slot_key(name), float(value))

    def _start(self, slots: int) -> None:
        self._mask = slots - 1
        self._keys = array("q", [0]) * slots  # 0: an empty slot
        self._values = array("d", [0.0]) * slots
        self._size = 0

    def _put(self, key: int, value: float) -> None:
        if 2 * (self._size + 1) > len(self._keys):  # more than half full: twice the slots
            pairs = [(k, v) for k, v in zip(self._keys, self._values, strict=True) if k]
            self._start(2 * len(self._keys))
            for k, v in pairs:
                self._put(k, v)
        keys, mask = self._keys, self._mask
        i = key & mask
        while keys[i]:
            if keys[i] == key:
                raise ValueError(f"{MODEL_FILE}: two features share a key")
            i = (i + 1) & mask
        keys[i] = key
        self._values[i] = value
        self._size += 1

    def get(self, feature: str, default: float | None = None) -> float | None:  # type: ignore[override]
        """Return the weight of ``feature``, or ``default`` when the model does not know it."""
        key = _slot_key(feature)
        keys, mask = self._keys, self._mask
        i = key & mask
        while found := keys[i]:
            if found == key:
                return self._values[i]
            i = (i + 1) & mask
        return default

    def __getitem__(self, feature: str) -> float:
        value = self.get(feature)
        if value is None:
            raise KeyError(feature)
        return value

    def __contains__(self, feature: object) -> bool:
        return isinstance(feature, str) and self.get(feature) is not None

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        raise TypeError("packed weights keep no feature names")


@dataclass(frozen=True, slots=True)
class LinearModel:
    """A logistic regression: ``p = sigmoid(bias + sum(weight[f] * x[f]))``."""

    bias: float
    weights: Mapping[str, float]
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


#: One "feature": weight pair of the model file's weights, and what follows it ("," or "}").
_PAIR = re.compile(rb'\s*"((?:[^"\\]|\\.)*)"\s*:\s*(-?[0-9][0-9.eE+-]*)\s*([,}])')
_EMPTY = re.compile(rb"\s*\}")


def _weight_pairs(raw: bytes, start: int, end: list[int]) -> Iterator[tuple[bytes, float]]:
    """Yield the pairs (UTF-8 name, weight) of the JSON object opening at ``raw[start]`` (``{``),
    one at a time (no dict of all 123,000 weights is ever made: it would stay in the heap's
    high-water mark); then put the index just past the object in ``end``."""
    pos = start + 1
    empty = _EMPTY.match(raw, pos)
    while empty is None:
        pair = _PAIR.match(raw, pos)
        if pair is None:
            raise ValueError(f"{MODEL_FILE}: unreadable weights at byte {pos}")
        name, value, after = pair.groups()
        if b"\\" in name:  # an escape: the name the JSON means
            name = json.loads(b'"' + name + b'"').encode()
        yield name, float(value)
        pos = pair.end()
        if after == b"}":
            end.append(pos)
            return
    end.append(empty.end())


def model_from_json(raw: str | bytes) -> LinearModel:
    """Return the model stored in ``raw`` (the content of a model file, UTF-8 when bytes).

    Raises:
        ValueError: when the content is not a model file of a known format.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    marker = re.search(rb'"weights"\s*:\s*\{', data)
    if marker is None:
        raise ValueError(f"{MODEL_FILE}: unknown model format")
    end: list[int] = []
    weights = PackedWeights(_weight_pairs(data, marker.end() - 1, end))
    rest = json.loads(data[: marker.start()] + b'"weights": {}' + data[end[0] :])
    if not isinstance(rest, dict) or rest.get("format") != 1:
        raise ValueError(f"{MODEL_FILE}: unknown model format")
    return LinearModel(
        bias=float(rest["bias"]),
        weights=weights,
        thresholds={str(k): float(v) for k, v in rest["thresholds"].items()},
        precise_triggers=frozenset(str(t) for t in rest.get("precise_triggers", ())),
    )


def _load() -> LinearModel:
    """Return the model shipped with the package."""
    return model_from_json(resources.files("flows.understanding").joinpath(MODEL_FILE).read_bytes())


MODEL: LinearModel = _load()


def model_vector(folded: str, rule_negative: bool, rule_topics: tuple[str, ...]) -> dict[str, float]:
    """Return the feature vector of a folded text and the rules' verdict on it (training uses it too)."""
    feats = text_features(folded)
    return vector(feats, rule_features(rule_negative, rule_topics, feats.cues))


def probability(folded: str, rule_negative: bool, rule_topics: tuple[str, ...]) -> float:
    """Return the model's probability that a folded comment needs a human: ``model_vector``, scored fast."""
    feats = text_features(folded)
    return sigmoid(MODEL.fast_logit(feats, rule_features(rule_negative, rule_topics, feats.cues)))
