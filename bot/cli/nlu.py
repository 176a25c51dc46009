"""``cxbot nlu``: show how the bot understands replies (one text, or a JSONL file of them).

Registered by ``bot/cli/main.py`` as ``app.command("nlu")(nlu_command)``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from flows.scales import Lang, Metric

if TYPE_CHECKING:  # the lexicons load when the command runs, not with every `cxbot`
    from flows.understanding import Understanding

#: How many of the model's features --explain prints (largest share of the log-odds first).
EXPLAIN_FEATURES = 12


def _as_json(result: Understanding) -> dict[str, Any]:
    """Return the printed form of one understanding."""
    return {
        "score": result.score,
        "intent": result.intent.value,
        "negative": result.negative,
        "topics": [t.value for t in result.topics],
        "comment": result.comment,
        "reason": result.reason.value if result.reason else None,
        "language": result.language.value if result.language else None,
    }


def _comment_json(text: str, lang: Lang, stage: str | None, explain: bool) -> dict[str, Any]:
    """Return how the comment part was judged: the model's probability and the rule that fired."""
    from flows.understanding.learned import MODEL
    from flows.understanding.negativity import verdict

    judged = verdict(text, lang, stage, explain=explain)
    out: dict[str, Any] = {
        "probability": round(judged.probability, 4),
        "threshold": judged.threshold,
        "rule": judged.rule,
    }
    if explain:
        out["triggers"] = list(judged.triggers)
        out["features"] = [
            [name, round(share, 4)] for name, share in MODEL.contributions(judged.vector)[:EXPLAIN_FEATURES]
        ]
    return out


def _parse_line(raw: str) -> tuple[str, Metric | None, Lang]:
    """Return (text, metric, lang) of one JSONL line.

    Raises:
        ValueError: with a readable message when the line is not a valid request.
    """
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError('"text" must be a string')
    metric_raw = obj.get("metric")
    try:
        metric = Metric(metric_raw) if metric_raw is not None else None
    except ValueError:
        raise ValueError(f'"metric" must be nps, csat, ces or null, not {metric_raw!r}') from None
    lang_raw = obj.get("lang")
    if lang_raw not in {"it", "en"}:
        raise ValueError(f'"lang" must be it or en, not {lang_raw!r}')
    lang = Lang(lang_raw)
    return text, metric, lang


def _run_jsonl(lines: Iterable[str], out: TextIO, err: TextIO) -> int:
    """Print one object per non-blank line; return 1 if any line was bad, else 0."""
    from flows.understanding import understand

    failed = False
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text, metric, lang = _parse_line(raw)
        except ValueError as exc:
            failed = True
            err.write(f"line {number}: {exc}\n")
            out.write(json.dumps({"line": number, "error": str(exc)}, ensure_ascii=False) + "\n")
            continue
        out.write(json.dumps(_as_json(understand(text, metric, lang)), ensure_ascii=False) + "\n")
    return 1 if failed else 0


def nlu_command(
    text: Annotated[str | None, typer.Argument(help="The reply to understand.")] = None,
    metric: Annotated[
        Metric | None, typer.Option("--metric", help="The question open (omit: none open).")
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="The conversation language.")] = Lang.IT,
    stage: Annotated[
        str | None, typer.Option("--stage", help="The stage id the reply answers (e.g. delivered).")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Also print every rule trigger and the model's weightiest features."),
    ] = False,
    jsonl: Annotated[
        Path | None,
        typer.Option("--jsonl", help='File of {"metric","lang","text"} lines; "-" reads stdin.'),
    ] = None,
) -> None:
    """Print how a reply is understood, as JSON (score, intent, negative, topics, comment, reason).

    A single TEXT also prints "probability" (the learned model's, that a human should read the
    comment), "threshold" and "rule" (the precise rule that flagged it alone, if any); --explain adds
    every rule trigger and the features that weighed most.

    With --jsonl, print one object per input line, in order; a bad line prints {"line", "error"},
    is reported on stderr, and makes the exit code 1.
    """
    from flows.understanding import understand

    if (text is None) == (jsonl is None):
        raise typer.BadParameter("give either TEXT or --jsonl FILE, not both or neither")
    if text is not None:
        result = understand(text, metric, lang, stage)
        printed = _as_json(result) | _comment_json(result.comment or text, lang, stage, explain)
        typer.echo(json.dumps(printed, ensure_ascii=False))
        return
    assert jsonl is not None  # narrowed by the check above
    if str(jsonl) == "-":
        code = _run_jsonl(sys.stdin, sys.stdout, sys.stderr)
    else:
        try:
            with jsonl.open(encoding="utf-8") as fh:
                code = _run_jsonl(fh, sys.stdout, sys.stderr)
        except OSError as exc:
            typer.echo(f"cannot read {jsonl}: {exc.strerror}", err=True)
            raise typer.Exit(2) from exc
        except UnicodeDecodeError as exc:
            typer.echo(f"{jsonl} is not UTF-8 text", err=True)
            raise typer.Exit(2) from exc
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``cxbot nlu`` to the CLI."""
    app.command("nlu")(nlu_command)
