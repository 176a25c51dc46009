"""`cxbot serve` migrates in a child process: same outcome, its failures named, Alembic kept out."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from flows.errors import StorageError
from storage import migrate
from storage.db import Database


def test_child_migrates_a_new_sqlite_file_then_finds_it_current(tmp_path: Path) -> None:
    """The first call creates the schema (before None, after head); the second changes nothing."""
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    first = migrate.upgrade_in_child(db)
    second = migrate.upgrade_in_child(db)
    assert (first.before, first.after) == (None, migrate.head_revision())
    assert not second.migrated and second.after == migrate.head_revision()
    assert migrate.is_current(db)
    db.dispose()


def test_child_passes_its_logs_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What Alembic logged in the child (each migration run) is logged by the parent."""
    db = Database(f"sqlite:///{tmp_path / 'logged.db'}")
    with caplog.at_level(logging.INFO):
        migrate.upgrade_in_child(db)
    db.dispose()
    assert any("Running upgrade" in record.getMessage() for record in caplog.records)


def test_child_failure_is_a_storage_error() -> None:
    """An unreachable database is raised here as a StorageError naming it."""
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StorageError, match="unreachable"):
        migrate.upgrade_in_child(db)
    db.dispose()


def test_reading_the_schema_imports_no_alembic(tmp_path: Path) -> None:
    """Checking the schema (as /readyz does) in a fresh process leaves Alembic and Mako unimported."""
    db = Database(f"sqlite:///{tmp_path / 'checked.db'}")
    migrate.upgrade_in_child(db)
    db.dispose()
    code = (
        "import sys; from storage import migrate; from storage.db import Database\n"
        f"db = Database('sqlite:///{tmp_path / 'checked.db'}')\n"
        "assert migrate.schema_problem(migrate.current_revision(db), migrate.head_revision()) is None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
