"""The ``cxbot report`` command's pieces: registration and writing a rendered report."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli._weekly_report import register, write_report
from flows.report import ReportInputs, build_report


def test_register_adds_report_command() -> None:
    """register(app) adds a ``report`` command with week, format, out and language options."""
    app = typer.Typer()

    @app.command("noop")
    def noop() -> None:
        """A second command so typer keeps sub-commands."""

    register(app)
    result = CliRunner().invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    for option in ("--week", "--format", "--out", "--lang", "--min-n"):
        assert option in result.output


def test_report_command_rejects_bad_options() -> None:
    """A malformed week, format or language fails before touching the database."""
    app = typer.Typer()

    @app.command("noop")
    def noop() -> None:
        """A second command so typer keeps sub-commands."""

    register(app)
    runner = CliRunner()
    assert runner.invoke(app, ["report", "--week", "2026-47"]).exit_code == 2
    assert runner.invoke(app, ["report", "--format", "pdf"]).exit_code == 2
    assert runner.invoke(app, ["report", "--lang", "de"]).exit_code == 2


def test_write_report_to_file_and_stdout(
    sample: ReportInputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PNG goes to a file (never to a terminal); text formats can go to stdout."""
    report = build_report(sample)
    out = tmp_path / "week.png"
    write_report(report, "png", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(typer.BadParameter, match="--out"):
        write_report(report, "png", None)
    write_report(report, "csv", None)
    assert capsys.readouterr().out.startswith("week,section,stage")
