"""Journey loading and validation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli.main import app
from flows.errors import JourneyError
from flows.journey import DEFAULT_JOURNEY, load_journey, parse_duration, parse_journey
from flows.scales import Metric


def _default() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_JOURNEY.read_text(encoding="utf-8"))
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(JourneyError) as info:
        parse_journey(yaml.safe_dump(data, allow_unicode=True), "bad.yaml")
    return info.value.problems


def test_default_journey_has_the_method_stages() -> None:
    """The shipped journey has CX_METHOD §4's stages with their metrics, in order."""
    journey = load_journey(None)
    assert [(s.id, s.metric) for s in journey.stages] == [
        ("order_placed", Metric.CES),
        ("delivered", Metric.CSAT),
        ("first_use", Metric.NPS),
        ("ticket_closed", Metric.CES),
        ("repurchase", Metric.NPS),
    ]
    assert journey.stage("order_placed").sample_rate < 1
    assert journey.stage("repurchase").review_invitation
    assert all(len(s.reasons) >= 3 for s in journey.stages)


def test_unknown_metric_is_refused_naming_the_field() -> None:
    """An unknown metric names the stage and the field."""
    data = _default()
    data["stages"][1]["metric"] = "happiness"
    problems = _problems(data)
    assert any("bad.yaml: stages[1:delivered].metric" in p and "nps" in p for p in problems), problems


def test_missing_italian_text_is_refused() -> None:
    """A question without Italian text is refused at stages[i].question.it."""
    data = _default()
    del data["stages"][0]["question"]["it"]
    problems = _problems(data)
    assert problems == ["bad.yaml: stages[0:order_placed].question.it: required field is missing"]


def test_negative_delay_is_refused() -> None:
    """A negative delay is refused with the reason."""
    data = _default()
    data["stages"][2]["delay"] = "-2d"
    problems = _problems(data)
    assert any("stages[2:first_use].delay" in p and "negative" in p for p in problems), problems


def test_unknown_event_is_refused() -> None:
    """A trigger that is not a known business event is refused, listing the known ones."""
    data = _default()
    data["stages"][3]["trigger"] = "ticket.exploded"
    problems = _problems(data)
    assert any("stages[3:ticket_closed].trigger" in p and "ticket.closed" in p for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    """Several problems are all listed, not just the first."""
    data = _default()
    data["stages"][0]["metric"] = "x"
    data["stages"][1]["delay"] = "soon"
    assert len(_problems(data)) == 2


def test_unknown_placeholder_and_reminder_after_expiry_are_refused() -> None:
    """A misspelt placeholder and a reminder after expiry are refused."""
    data = _default()
    data["stages"][1]["question"]["en"] = "How was {prodcut}?"
    data["stages"][2]["reminder"] = "30d"
    problems = _problems(data)
    assert any("question.en" in p and "prodcut" in p for p in problems), problems
    assert any("reminder must come before expiry" in p for p in problems), problems


def test_invalid_yaml_names_the_line() -> None:
    """Broken YAML is refused with the file and line."""
    with pytest.raises(JourneyError) as info:
        parse_journey("brand: x\nstages: [\n", "broken.yaml")
    assert info.value.problems[0].startswith("broken.yaml: line ")


def test_durations() -> None:
    """Durations accept s/m/h/d/w and refuse negatives and nonsense."""
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration(30) == timedelta(seconds=30)
    for bad in ("-1h", "soon", True):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_journey_check_cli(tmp_path: Path) -> None:
    """`cxbot journey check` prints each problem and exits non-zero; a good file exits 0."""
    runner = CliRunner()
    ok = runner.invoke(app, ["journey", "check", str(DEFAULT_JOURNEY)])
    assert ok.exit_code == 0, ok.output
    assert "5 stages" in ok.output
    data = _default()
    data["stages"][0]["metric"] = "x"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["journey", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: stages[0:order_placed].metric" in result.output
    missing = runner.invoke(app, ["journey", "check", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
    assert "cannot read" in missing.output


def test_reasons_by_score_band_and_plain_lists() -> None:
    """A reasons mapping gives chips per band; a plain list is offered after every score."""
    from flows.scales import Sentiment

    delivered = load_journey(None).stage("delivered")
    assert [r.id for r in delivered.reasons.for_sentiment(Sentiment.POSITIVE)][:2] == ["fast", "well_packed"]
    assert [r.id for r in delivered.reasons.for_sentiment(Sentiment.NEGATIVE)][:2] == ["late", "damaged"]
    data = _default()
    data["stages"][1]["reasons"] = [{"id": "late", "label": {"it": "In ritardo", "en": "Late"}}]
    plain = parse_journey(yaml.safe_dump(data, allow_unicode=True)).stage("delivered")
    assert all([r.id for r in plain.reasons.for_sentiment(band)] == ["late"] for band in Sentiment)


def test_unknown_reason_band_is_named() -> None:
    """A reasons mapping with a band other than negative/neutral/positive is reported with its path."""
    data = _default()
    data["stages"][1]["reasons"] = {"happy": [{"id": "x", "label": {"it": "X", "en": "X"}}]}
    assert any("stages[1:delivered].reasons.happy" in p for p in _problems(data))


def test_every_band_has_chips_in_the_shipped_journey() -> None:
    """Each shipped stage offers negative, neutral and positive chips, with positive themes."""
    from flows.scales import Sentiment
    from flows.topics import URGENT_TOPICS

    for stage in load_journey(None).stages:
        for band in Sentiment:
            assert len(stage.reasons.for_sentiment(band)) >= 3, (stage.id, band)
        positive = [r.topic for r in stage.reasons.positive if r.topic]
        assert positive and not set(positive) & URGENT_TOPICS, stage.id
