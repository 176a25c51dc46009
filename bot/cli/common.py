"""What the CLI's commands share: error translation at the edge and app construction."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from flows.errors import CxbotError, JourneyError

if TYPE_CHECKING:
    from bot.wiring import App

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` on stderr and return the Exit to raise."""
    print(f"cxbot: {message}", file=sys.stderr)
    return typer.Exit(code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Translate cxbot's errors into a one-line message and a non-zero exit code."""
    try:
        yield
    except JourneyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise typer.Exit(2) from None
    except CxbotError as exc:
        raise fail(str(exc), 2) from None


def load_app(database_url: str | None = None) -> App:
    """Return the wired application from the environment's settings (optionally another database)."""
    # Imported here: `cxbot --help` and the commands without a database start without them.
    from bot.config_check import load_settings
    from bot.wiring import build_app

    settings = load_settings(**({"database_url": database_url} if database_url else {}))
    return build_app(settings)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so cxbot's errors become clean messages."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with cli_errors():
            return func(*args, **kwargs)

    return wrapper
