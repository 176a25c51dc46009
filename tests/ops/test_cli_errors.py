"""The CLI's error boundary: each ordinary mistake is one line on stderr and exit 2 (usage) or 1 (runtime)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli.main import app
from storage import migrate
from storage.db import Database


@pytest.fixture
def migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Return the URL of a migrated SQLite file the CLI uses (CXBOT_DATABASE_URL)."""
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    monkeypatch.setenv("CXBOT_DATABASE_URL", url)
    return url


def _one_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


CASES = [
    # (name, argv, env, exit code, what the one line says)
    (
        "database unreachable",
        ["report"],
        {"CXBOT_DATABASE_URL": "postgresql://u:p@127.0.0.1:5999/x"},
        1,
        "database unreachable",
    ),
    (
        "report file not writable",
        ["report", "--format", "html", "--out", "/nonexistent/r.html"],
        {},
        1,
        "cannot use /nonexistent/r.html: No such file or directory",
    ),
    (
        "export file not writable",
        ["export", "--out", "/nonexistent/x.csv"],
        {},
        1,
        "cannot use /nonexistent/x.csv",
    ),
    (
        "bad setting",
        ["report"],
        {"CXBOT_REPORT_LANGUAGE": "fr"},
        2,
        "CXBOT_REPORT_LANGUAGE: must be it or en",
    ),
    (
        "bad --format value",
        ["report", "--format", "pdf"],
        {},
        2,
        "--format must be one of text, telegram, html",
    ),
    ("--format choices", ["escalations", "--format", "xml"], {}, 2, "'xml' is not one of 'table', 'json'"),
    (
        "--format choices (export)",
        ["export", "--format", "xlsx"],
        {},
        2,
        "'xlsx' is not one of 'jsonl', 'csv'",
    ),
    ("unknown command", ["reprot"], {}, 2, "No such command 'reprot'"),
    ("bad --lang", ["shell", "--lang", "de"], {}, 2, "'de' is not one of 'it', 'en'"),
]


@pytest.mark.parametrize(("argv", "env", "code", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_one_line_and_an_exit_code(
    migrated: str, argv: list[str], env: dict[str, str], code: int, line: str
) -> None:
    """Unreachable database, unwritable file, bad setting or argument: one `cxbot:` line, exit 1 or 2."""
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == code, result.output
    message = _one_line(result)
    assert message.startswith("cxbot: ") and line in message


def test_a_missing_sqlite_database_is_refused_and_not_created(tmp_path: Path) -> None:
    """`cxbot report` on a SQLite path that does not exist names it and creates neither folder nor file."""
    url = f"sqlite:///{tmp_path / 'typo' / 'x.db'}"
    result = CliRunner().invoke(app, ["report"], env={"CXBOT_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "does not exist" in _one_line(result) and "run `cxbot db upgrade`" in result.stderr
    assert not (tmp_path / "typo").exists()


def test_a_schema_that_is_behind_is_refused_and_shown_by_status(tmp_path: Path) -> None:
    """Commands refuse a schema behind head ("run `cxbot db upgrade`"); `status` shows current vs head."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = Database(url)
    migrate.upgrade(database, "0005")
    database.dispose()
    env = {"CXBOT_DATABASE_URL": url, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["escalations"], env=env)
    assert result.exit_code == 1
    assert "schema is behind (0005" in _one_line(result) and "run `cxbot db upgrade`" in result.stderr
    status = CliRunner().invoke(app, ["status"], env=env)
    assert status.exit_code == 0, status.output
    assert f"current 0005, head {migrate.head_revision()}" in status.stdout
    assert migrate.current_revision(Database(url)) == "0005"  # nobody migrated behind our back


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """`cxbot --debug` lets the failure's traceback through instead of the one line."""
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    result = CliRunner().invoke(app, ["--debug", "report"], env={"CXBOT_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "does not exist" in str(result.exception)
    assert result.stderr.strip() == ""  # not translated into the one line


def test_version() -> None:
    """`cxbot --version` prints the installed version and exits 0."""
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"cxbot {version('cxbot')}"


def test_db_upgrade_says_whether_it_migrated(tmp_path: Path) -> None:
    """`cxbot db upgrade` creates and migrates a new database, then reports there was nothing to do."""
    url = f"sqlite:///{tmp_path / 'new' / 'n.db'}"
    first = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    again = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    head = migrate.head_revision()
    assert first.exit_code == 0 and f"database migrated from empty to {head}" in first.stdout
    assert again.exit_code == 0 and f"database already at revision {head}" in again.stdout
