"""Every figure of ``cxbot report --format json`` equals an independent recomputation from ``cxbot
export`` (tests/bot/report/recompute.py: scipy/statsmodels, nothing imported from cxbot's math), for
several weeks, on SQLite and PostgreSQL, in the company time zone of Rome and of Auckland.

The data come from the demo simulation (real conversations through the service, agents resolving
escalations, customers answering "no" to the closing question), run once on SQLite and copied
row for row into PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli.main import app as cli
from tests.bot.report.demo import copy_to_postgres
from tests.bot.report.recompute import differences, recompute
from tests.conftest import drop_pg_database, make_pg_database

WEEKS = ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
#: (company time zone, minimum n): Rome with every cell shown, Auckland (12 hours away) with the default
SETTINGS = [("Europe/Rome", 1), ("Pacific/Auckland", 30)]
EXPORTS = ("answers", "surveys", "escalations", "closing", "customers")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, demo_file: Path) -> Iterator[str]:
    """The demo's data on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{demo_file}"
        return
    admin_url = request.getfixturevalue("pg_server")
    url, name = make_pg_database(admin_url)
    try:
        copy_to_postgres(demo_file, url)
        yield url
    finally:
        drop_pg_database(admin_url, name)


def _cxbot(url: str, cwd: Path, *args: str, tz: str = "Europe/Rome") -> str:
    """Run the cxbot command line in-process (settings only from these variables, read afresh)."""
    env = {
        "CXBOT_DATABASE_URL": url,
        "CXBOT_COMPANY_TIMEZONE": tz,
        "CXBOT_REPORT_LANGUAGE": "en",
    }
    previous = Path.cwd()
    os.chdir(cwd)  # no .env of the checkout is read
    try:
        result = CliRunner().invoke(cli, list(args), env=env)
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, result.output
    return result.stdout


#: Each ``cxbot export --what`` as rows; each week's JSON report by (week, time zone, minimum n).
Exported = dict[str, list[dict[str, Any]]]
Reports = dict[tuple[str, str, int], Any]


@pytest.fixture(scope="module")
def exported(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Every kind of ``cxbot export --what`` of the database, as rows."""
    cwd = tmp_path_factory.mktemp("export")
    return {
        what: [json.loads(line) for line in _cxbot(database_url, cwd, "export", "--what", what).splitlines()]
        for what in EXPORTS
    }


@pytest.fixture(scope="module")
def reports(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Reports:
    """The JSON report of each week in each setting."""
    cwd = tmp_path_factory.mktemp("report")
    return {
        (week, tz, min_n): json.loads(
            _cxbot(
                database_url, cwd, "report", "--format", "json", "--week", week, "--min-n", str(min_n), tz=tz
            )
        )
        for week in WEEKS
        for tz, min_n in SETTINGS
    }


def test_every_figure_recomputed(exported: Exported, reports: Reports) -> None:
    """Each figure of each report (4 weeks × 2 time zones × 2 minimum n) equals the recomputation."""
    problems: list[str] = []
    compared = 0
    for (week, tz, min_n), report in reports.items():
        found, n = differences(report, recompute(exported, week, tz, min_n))
        problems += [f"{week} {tz}: {p}" for p in found]
        compared += n
    assert problems == [], "\n".join(problems[:40])
    assert compared > 5000  # the comparison walked every figure, not an empty report


def test_demo_data_has_the_cases_that_matter(exported: Exported, reports: Reports) -> None:
    """The data hold what the report used to get wrong: "no" answers, chips, re-asks, late sends."""
    answers, closing = exported["answers"], exported["closing"]
    assert any(q["answer"] == "no" for q in closing)
    assert any(a["reason"] and a["comment"] is None for a in answers)  # a chip alone is no comment
    assert any(s["reasks"] for s in exported["surveys"])
    figures = [r for (_, tz, _), r in reports.items() if tz == "Europe/Rome"]
    assert any(r["funnel"]["overall"]["sent_late"] for r in figures)
    assert any(r["escalations"]["closing"].get("no") for r in figures)
    assert any((r["escalations"]["recovery_rate"] or 100) < 100 for r in figures)


def test_every_figure_has_a_definition(reports: Reports) -> None:
    """Each figure name in the JSON report has a one-line definition in ``definitions``."""
    structure = {"stage", "metric", "label", "week", "language", "channel", "text", "sentiment", "score"}
    structure |= {"topic", "ref", "priority", "opened_at", "period_start", "period_end", "timezone"}
    structure |= {"generated_at", "normalisation", "definitions", "trend_weeks", "basis", "runner_up"}
    parts = {"value", "low", "high", "moe", "variance", "delta"}  # defined by their parent figure
    maps = {"distribution", "by_language", "by_channel", "by_stage", "closing", "unreachable_by_reason"}
    report = next(iter(reports.values()))
    names: set[str] = set()

    def walk(node: Any, parent: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if parent in maps:  # keys are scores, languages, channels, stages, answers
                    walk(value, parent)
                    continue
                names.add(key)
                walk(value, key)
        elif isinstance(node, list):
            for item in node:
                walk(item, parent)

    walk(report, "")
    missing = names - structure - parts - set(report["definitions"])
    assert missing == set()
    assert all(text.strip() for text in report["definitions"].values())


def test_a_corrupted_figure_is_caught(exported: Exported, reports: Reports) -> None:
    """Changing any one figure of a report (or dropping one) makes the comparison fail."""
    week, tz, min_n = WEEKS[2], *SETTINGS[0]
    report = reports[(week, tz, min_n)]
    expected = recompute(exported, week, tz, min_n)
    assert differences(report, expected)[0] == []
    corruptions: list[Callable[[dict[str, Any]], object]] = [
        lambda r: r["funnel"]["overall"].__setitem__(
            "comment_rate", r["funnel"]["overall"]["comment_rate"] + 0.5
        ),
        lambda r: r["escalations"].__setitem__("resolved", r["escalations"]["resolved"] + 1),
        lambda r: r["stages"][1]["this_week"]["headline"].__setitem__(
            "low", r["stages"][1]["this_week"]["headline"]["low"] - 0.01
        ),
        lambda r: r["stages"][2]["change_4w"].__setitem__(
            "high", (r["stages"][2]["change_4w"]["high"] or 0) + 1
        ),
        lambda r: r["verbatims"][0].__setitem__("text", "Altro"),
        lambda r: r["funnel"]["overall"].pop("sent_late"),
    ]
    for corrupt in corruptions:
        bad = copy.deepcopy(report)
        corrupt(bad)
        assert differences(bad, expected)[0] != []
