"""The ``cxbot nlu`` command: one text, or a JSONL stream of replies."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from bot.cli.nlu import nlu_command

app = typer.Typer()
app.command("nlu")(nlu_command)


@app.command("noop")
def _noop() -> None:
    """Keep the app multi-command so "nlu" is addressed by name, like in the real CLI."""


runner = CliRunner()


def test_single_text_prints_one_json_object() -> None:
    """A text with score and complaint prints score, intent, negative flag, topics and comment."""
    result = runner.invoke(app, ["nlu", "--metric", "nps", "--lang", "it", "8, la consegna era in ritardo"])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["score"] == 8
    assert obj["intent"] == "score"
    assert obj["negative"] is True
    assert obj["topics"] == ["late_delivery"]
    assert obj["comment"] == "la consegna era in ritardo"
    assert obj["reason"] is None


def test_single_text_reask_reports_reason() -> None:
    """An out-of-range reply prints a null score and the re-ask reason."""
    result = runner.invoke(app, ["nlu", "--metric", "csat", "--lang", "en", "8"])
    obj = json.loads(result.stdout)
    assert (obj["score"], obj["intent"], obj["reason"]) == (None, "reask", "out_of_range")


def test_jsonl_from_stdin_keeps_order() -> None:
    """Each stdin line gives one object, in input order."""
    lines = [
        {"metric": "csat", "lang": "en", "text": "⭐⭐⭐"},
        {"metric": None, "lang": "it", "text": "stop"},
        {"metric": "ces", "lang": "it", "text": "sette"},
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    result = runner.invoke(app, ["nlu", "--jsonl", "-"], input=stdin)
    assert result.exit_code == 0
    out = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert [(o["intent"], o["score"]) for o in out] == [("score", 3), ("opt_out", None), ("score", 7)]


def test_jsonl_bad_line_reported_and_others_printed(tmp_path: Path) -> None:
    """A bad line prints an error object, names its line on stderr, and the run exits 1."""
    path = tmp_path / "replies.jsonl"
    path.write_text(
        '{"metric":"nps","lang":"it","text":"nove"}\nnot json\n{"metric":"nps","lang":"fr","text":"9"}\n'
        '{"metric":"nps","lang":"en","text":"ten"}\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["nlu", "--jsonl", str(path)])
    assert result.exit_code == 1
    out = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert out[0]["score"] == 9
    assert out[1] == {"line": 2, "error": out[1]["error"]}
    assert out[2]["line"] == 3
    assert "lang" in out[2]["error"]
    assert out[3]["score"] == 10
    assert "line 2:" in result.stderr
    assert "line 3:" in result.stderr


def test_text_and_jsonl_together_is_a_usage_error() -> None:
    """Giving neither or both of TEXT and --jsonl exits 2."""
    assert runner.invoke(app, ["nlu"]).exit_code == 2
    assert runner.invoke(app, ["nlu", "--jsonl", "-", "9"]).exit_code == 2


def test_missing_file_exits_2(tmp_path: Path) -> None:
    """An unreadable --jsonl file is reported on stderr with exit code 2."""
    result = runner.invoke(app, ["nlu", "--jsonl", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_single_text_shows_probability_and_rule() -> None:
    """A single text prints the model's probability, its threshold and the precise rule that fired."""
    result = runner.invoke(app, ["nlu", "--lang", "en", "the driver was rude and yelled at me"])
    obj = json.loads(result.stdout)
    assert 0.0 <= obj["probability"] <= 1.0
    assert 0.0 < obj["threshold"] < 1.0
    assert obj["rule"] == "rule:staff"
    assert "features" not in obj


def test_explain_lists_triggers_and_features_and_stage_counts() -> None:
    """--explain adds the rule triggers and weightiest features; --stage delivered reads "nothing there"."""
    result = runner.invoke(
        app, ["nlu", "--lang", "en", "--stage", "delivered", "--explain", "nothing was there when I got home"]
    )
    obj = json.loads(result.stdout)
    assert obj["negative"] is True
    assert "stage:delivered_not_there" in obj["triggers"]
    assert obj["topics"][0] == "not_received"
    assert 0 < len(obj["features"]) <= 12
    assert all(isinstance(name, str) and isinstance(share, float) for name, share in obj["features"])
