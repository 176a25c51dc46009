"""Schema migrations (Alembic), applied only by ``cxbot db upgrade`` and ``cxbot serve``.

Every other command checks the schema (``require_current``) and refuses one that is behind; it
never creates a database. Upgrades run under a lock so N workers starting together migrate once:
a PostgreSQL advisory lock held by the migrating transaction, a file lock next to a SQLite file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from flows.errors import StorageError
from storage.db import Database

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
    return MigrationContext.configure(connection).get_current_revision()


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
    return _scripts().get_current_head()


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
    known = {script.revision for script in _scripts().walk_revisions()}
    if current not in known:
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


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)
