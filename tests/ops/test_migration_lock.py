"""Workers starting together on an empty database migrate it once, and all of them start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from storage import migrate
from storage.db import Database
from tests.conftest import drop_pg_database, make_pg_database

ROOT = Path(__file__).resolve().parents[2]

#: Each process imports cxbot, says "ready", waits for the "go" file, then runs `cxbot db upgrade`
#: (what `serve` does at start), so all of them reach the empty database within milliseconds.
UPGRADE_ON_GO = """
import os, sys, time
from bot.cli.main import app
import storage.migrate, alembic.command, sqlalchemy.dialects.postgresql  # warm imports
print("ready", flush=True)
go = sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.001)
app(["db", "upgrade", "--database-url", sys.argv[1]])
"""


def _race(url: str, go: Path, n: int) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_ON_GO, url, str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _assert_migrated_once(results: list[subprocess.CompletedProcess[str]]) -> None:
    for result in results:
        assert result.returncode == 0, result.stderr
    migrated = [r for r in results if "database migrated from empty" in r.stdout]
    waited = [r for r in results if "database already at revision" in r.stdout]
    assert (len(migrated), len(waited)) == (1, len(results) - 1), [r.stdout for r in results]


def test_two_processes_on_an_empty_postgresql_database_migrate_once(pg_server: str, tmp_path: Path) -> None:
    """Two `cxbot db upgrade` started together on an empty PostgreSQL: one migrates, both succeed."""
    url, name = make_pg_database(pg_server)
    try:
        _assert_migrated_once(_race(url, tmp_path / "go", 2))
        database = Database(url)
        assert migrate.is_current(database)
        database.dispose()
    finally:
        drop_pg_database(pg_server, name)


@pytest.mark.parametrize("n", [3])
def test_processes_on_a_new_sqlite_file_migrate_once(tmp_path: Path, n: int) -> None:
    """N `cxbot db upgrade` started together on a new SQLite file: one migrates, all succeed."""
    url = f"sqlite:///{tmp_path / 'data' / 'cxbot.db'}"
    _assert_migrated_once(_race(url, tmp_path / "go", n))
