"""What the CLI's commands share: the error boundary at the edge and app construction.

Every command's failure ends as ONE line on stderr naming what went wrong and how to fix it:
exit code 2 for a usage mistake (a bad argument or setting), 1 for a runtime failure (the
database unreachable, a file that cannot be written). ``cxbot --debug …`` shows the traceback.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from flows.errors import ConfigError, CxbotError, InputError, JourneyError, StorageError

if TYPE_CHECKING:
    from bot.engine.wiring import App

P = ParamSpec("P")
R = TypeVar("R")

#: Exit codes: 2 = the command line or the configuration is wrong; 1 = the run failed.
USAGE, RUNTIME = 2, 1


class _Flags:
    """Process-wide CLI flags set by the top-level callback (``--debug``)."""

    debug = False


flags = _Flags()


def fail(message: str, code: int = RUNTIME) -> typer.Exit:
    """Print ``message`` on stderr (one line, prefixed ``cxbot:``) and return the Exit to raise."""
    print(f"cxbot: {message}", file=sys.stderr)
    return typer.Exit(code)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _os_message(exc: OSError) -> str:
    """Name the file and the reason, and what usually fixes it."""
    where = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    fix = {
        errno.ENOENT: "the folder does not exist; create it or choose another path",
        errno.EACCES: "no permission; choose a path you can write or fix its permissions",
        errno.EROFS: "read-only file system; choose another path",
        errno.EISDIR: "it is a folder; give a file name",
        errno.ENOSPC: "the disk is full",
    }.get(exc.errno or 0, "check the path")
    return f"cannot use {where}: {reason} ({fix})"


@contextmanager
def cli_errors() -> Iterator[None]:
    """Translate every failure into one line and exit 2 (usage) or 1 (runtime)."""
    try:
        yield
    except BrokenPipeError:  # `cxbot report | head`: the reader left; nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
        raise  # usage errors (typer.BadParameter…) are printed by bot.cli.main.CxbotGroup (exit 2)
    except Exception as exc:
        if flags.debug:
            raise
        code, message = classify(exc)
        if isinstance(exc, JourneyError):
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            raise typer.Exit(code) from None
        raise fail(message, code) from None


def classify(exc: BaseException) -> tuple[int, str]:
    """Return (exit code, one-line message) for a failure reaching the CLI's edge."""
    if isinstance(exc, ConfigError | InputError):
        return USAGE, _one_line(str(exc))
    if isinstance(exc, StorageError) and "unreachable" in str(exc):
        return RUNTIME, f"{_one_line(str(exc))} (check CXBOT_DATABASE_URL and that the database is up)"
    if isinstance(exc, CxbotError):
        return RUNTIME, _one_line(str(exc))
    if isinstance(exc, OSError):
        return RUNTIME, _os_message(exc)
    from storage.db import DATABASE_ERROR  # loaded by then: a database was used

    if isinstance(exc, DATABASE_ERROR):
        orig = getattr(exc, "orig", None) or exc
        return RUNTIME, f"database error: {_one_line(str(orig))} (check CXBOT_DATABASE_URL)"
    return RUNTIME, f"unexpected {type(exc).__name__}: {_one_line(str(exc))} (run with --debug for details)"


def load_app(database_url: str | None = None, *, schema: str = "current") -> App:
    """Return the wired application from the environment's settings (optionally another database),
    with the agents' desk hook installed (cards and relays of what its service feeds).

    Never migrates and never creates a database: ``schema="current"`` refuses a database that is
    missing or not at the newest schema (``cxbot db upgrade`` fixes it); ``"exists"`` only needs
    it to exist (``cxbot status`` shows how far behind it is).

    Raises:
        ConfigError: bad settings; StorageError: the database is missing, unreachable or behind.
    """
    # Imported here: `cxbot --help` and the commands without a database start without them.
    from bot.cli.config_check import load_settings
    from bot.engine.wiring import build_app
    from bot.escalations import hooks
    from storage import migrate

    settings = load_settings(**({"database_url": database_url} if database_url else {}))
    app = build_app(settings, upgrade=False)
    try:
        hooks.install(app)
        if schema == "current":
            migrate.require_current(app.db)
        else:
            migrate.require_exists(app.db)
    except BaseException:
        app.db.dispose()
        raise
    return app


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so every failure becomes one clean line and an exit code."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with cli_errors():
            return func(*args, **kwargs)

    return wrapper
