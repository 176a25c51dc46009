"""Schema migrations (Alembic), applied only by ``cxbot db upgrade`` and ``cxbot serve``.

Every other command checks the schema (``require_current``) and refuses one that is behind; it
never creates a database. Upgrades run under a lock so N workers starting together migrate once:
a PostgreSQL advisory lock held by the migrating transaction, a file lock next to a SQLite file.

Alembic (and Mako) are imported only to migrate: the schema's revision is read with plain SQL and
the shipped revisions from the migration files, so a serving process that migrated in a child
(``upgrade_in_child``) never holds them (~11 MiB).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from flows.errors import StorageError
from storage.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: The advisory lock key every cxbot process migrating a PostgreSQL database takes ("cxbotmig").
ADVISORY_LOCK_KEY = 0x6378626F746D6967

UPGRADE_HINT = "run `cxbot db upgrade`"


class _QuietContext(logging.Filter):
    """Drop alembic's per-connection chatter ("Context impl …", "Will assume …").

    Alembic logs them at INFO each time a migration context is configured, which /readyz and
    every CLI command do; the lines say nothing an operator needs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not message.startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_QuietContext())


@dataclass(frozen=True)
class Upgrade:
    """What one ``upgrade`` call did: the revision before and after (equal when nothing ran)."""

    before: str | None
    after: str | None

    @property
    def migrated(self) -> bool:
        """Return True when this call applied at least one migration."""
        return self.before != self.after


def alembic_config(db: Database) -> Config:
    """Return an Alembic configuration pointing at cxbot's migrations and ``db``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def sqlite_path(db: Database) -> Path | None:
    """Return the file of a SQLite database (None for PostgreSQL or an in-memory database)."""
    if not db.is_sqlite:
        return None
    name = make_url(db.url).database
    return None if name in (None, "", ":memory:") else Path(name)


@contextlib.contextmanager
def _sqlite_file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<file>.migrate.lock`` (other processes wait their turn)."""
    import fcntl

    with open(path.with_name(path.name + ".migrate.lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(db: Database, revision: str = "head") -> Upgrade:
    """Apply migrations up to ``revision`` under the migration lock (idempotent); create the
    database file (SQLite) when it does not exist yet.

    Raises:
        StorageError: when the database cannot be reached or a migration fails.
    """
    path = sqlite_path(db)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    lock = _sqlite_file_lock(path) if path is not None else contextlib.nullcontext()
    from alembic import command

    config = alembic_config(db)
    try:
        with lock, db.engine.begin() as connection:
            if not db.is_sqlite:
                # Released when this transaction ends, i.e. after the migrations are committed:
                # a process waiting here then finds the schema at head and does nothing.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _signed(ADVISORY_LOCK_KEY)}
                )
            before = _revision(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            after = _revision(connection)
    except OperationalError as exc:
        raise StorageError(f"database unreachable: {exc.orig}") from exc
    return Upgrade(before=before, after=after)


def _signed(key: int) -> int:
    """Return ``key`` as the signed 64-bit integer PostgreSQL's bigint wants."""
    return key - (1 << 64) if key >= 1 << 63 else key


def _revision(connection: Connection) -> str | None:
    """Return the revision in Alembic's version table (plain SQL: no Alembic import)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade_in_child(db: Database, revision: str = "head") -> Upgrade:
    """``upgrade`` in a child Python process, so this one never imports Alembic and Mako (its
    modules would stay for the life of the process). What the child logged is logged here.

    Raises:
        StorageError: when the database cannot be reached or a migration fails.
    """
    if db.is_sqlite and sqlite_path(db) is None:  # in memory: only this process sees it
        return upgrade(db, revision)
    request = json.dumps({"url": db.url, "revision": revision})  # on stdin: never in a process list
    done = subprocess.run(  # this interpreter, this module
        [sys.executable, "-m", "storage.migrate"], input=request, capture_output=True, text=True, check=False
    )
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise StorageError(f"the migration process failed (exit {done.returncode})") from None
    for name, level, message in answer.get("logs", []):
        logging.getLogger(name).log(level, "%s", message)
    if "error" in answer:
        raise StorageError(answer["error"])
    return Upgrade(before=answer["before"], after=answer["after"])


class _Collect(logging.Handler):
    """Keeps the child's log records, sent back to the parent with the outcome."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _child() -> int:
    """The child of ``upgrade_in_child``: the request on stdin, the outcome as one JSON line."""
    collect = _Collect()
    logging.basicConfig(level=logging.INFO, handlers=[collect])
    request = json.loads(sys.stdin.read())
    db = Database(request["url"])
    answer: dict[str, object]
    try:
        done = upgrade(db, request["revision"])
        answer = {"before": done.before, "after": done.after}
    except StorageError as exc:
        answer = {"error": str(exc)}
    except Exception as exc:  # a failing migration: named for the parent, which raises it
        answer = {"error": f"migration failed: {type(exc).__name__}: {exc}"}
    finally:
        db.dispose()
    answer["logs"] = collect.records
    print(json.dumps(answer))
    return 1 if "error" in answer else 0


def current_revision(db: Database) -> str | None:
    """Return the revision the database is at, or None when it has no schema yet.

    Raises:
        StorageError: when the database cannot be reached.
    """
    try:
        with db.read_engine.connect() as connection:
            return _revision(connection)
    except OperationalError as exc:
        raise StorageError(f"database unreachable: {exc.orig}") from exc


def head_revision() -> str | None:
    """Return the newest migration revision shipped with this version."""
    revisions = _shipped()
    replaced = set(revisions.values())
    heads = [revision for revision in revisions if revision not in replaced]
    return heads[0] if len(heads) == 1 else None


def is_current(db: Database) -> bool:
    """Return True when the database schema is at the newest migration."""
    return current_revision(db) == head_revision()


def require_exists(db: Database) -> None:
    """Refuse a SQLite database file that does not exist (connecting would create it).

    Raises:
        StorageError: naming the file and the command that creates it.
    """
    path = sqlite_path(db)
    if path is not None and not path.exists():
        raise StorageError(f"database file {path} does not exist: check CXBOT_DATABASE_URL or {UPGRADE_HINT}")


def schema_problem(current: str | None, head: str | None) -> str | None:
    """Return why a schema at ``current`` is unusable by this version (None when it is usable)."""
    if current == head:
        return None
    if current is None:
        return f"the database has no schema yet: {UPGRADE_HINT}"
    if current not in _shipped():
        return f"the database schema ({current}) is newer than this cxbot ({head}): upgrade cxbot"
    return f"the database schema is behind ({current}, this cxbot needs {head}): {UPGRADE_HINT}"


def require_current(db: Database) -> None:
    """Refuse a database that does not exist or whose schema is not at head; never migrate.

    Raises:
        StorageError: naming what is wrong and the command that fixes it.
    """
    require_exists(db)
    problem = schema_problem(current_revision(db), head_revision())
    if problem is not None:
        raise StorageError(problem)


_ASSIGNED = re.compile(r"""^(revision|down_revision)(?:\s*:[^=]+)?\s*=\s*(?:['"](\w+)['"]|None)""", re.M)


@cache
def _shipped() -> dict[str, str | None]:
    """Return each shipped revision and the one it follows, read from the migration files (the
    assignments Alembic itself reads), without importing Alembic."""
    revisions: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        found = dict((name, value or None) for name, value in _ASSIGNED.findall(path.read_text()))
        if found.get("revision"):
            revisions[str(found["revision"])] = found.get("down_revision")
    return revisions


if __name__ == "__main__":
    sys.exit(_child())
