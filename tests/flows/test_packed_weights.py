"""The comment model's weights packed in arrays: the same weights as the file, by name."""

from __future__ import annotations

import json

import pytest

from flows.understanding.learned import MODEL, MODEL_FILE, PackedWeights, model_from_json
from tests.flows.test_nlu_model import MODEL_PATH


def test_every_weight_of_the_file_is_found_by_its_name() -> None:
    """Each of the model file's features has exactly its weight; an unknown feature has none."""
    weights = json.loads(MODEL_PATH.read_text(encoding="utf-8"))["weights"]
    assert len(MODEL.weights) == len(weights)
    assert all(MODEL.weights.get(name) == value for name, value in weights.items())
    assert MODEL.weights.get("no such feature") is None
    assert "no such feature" not in MODEL.weights


def test_names_with_escapes_braces_and_accents_are_read() -> None:
    """Names the JSON escapes, or holding braces or accents, are read as the JSON means them."""
    raw = json.dumps(
        {
            "format": 1,
            "bias": 0.5,
            "weights": {'a"b': 1.0, "è": 2.0, "x}": -3.0, "\\": 4.5},
            "thresholds": {"en": 0.3},
        }
    )
    model = model_from_json(raw)
    assert [model.weights.get(name) for name in ('a"b', "è", "x}", "\\")] == [1.0, 2.0, -3.0, 4.5]
    assert model.bias == 0.5 and model.thresholds == {"en": 0.3}


def test_an_empty_table_grows_and_a_repeated_name_is_refused() -> None:
    """More weights than expected are all kept; a feature given twice is refused (two would share a key)."""
    many = PackedWeights(((f"f{i}", float(i)) for i in range(100)), expected=4)
    assert len(many) == 100 and many["f99"] == 99.0
    with pytest.raises(ValueError, match=MODEL_FILE):
        PackedWeights([("a", 1.0), ("a", 2.0)])
