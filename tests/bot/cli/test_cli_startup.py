"""`cxbot --help` starts light: the CLI is built without the database, Telegram or chart libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("sqlalchemy", "alembic", "sqlmodel", "aiogram", "matplotlib", "httpx", "fastapi")

_PROBE = """
import json, sys
import bot.cli.main
from typer.main import get_command
get_command(bot.cli.main.app)  # every command and option built, as for `cxbot --help`
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_building_the_cli_imports_no_database_telegram_or_chart_library() -> None:
    """A fresh interpreter importing bot.cli.main and building the typer app loads none of HEAVY."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "typer" in loaded  # the probe did build the CLI
    assert sorted(loaded.intersection(HEAVY)) == []


def test_the_report_command_is_still_there_with_its_options() -> None:
    """`cxbot report --help` (built when run) shows the real command's options."""
    from typer.testing import CliRunner

    from bot.cli.main import app

    result = CliRunner().invoke(app, ["report", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--format" in result.output and "--week" in result.output
