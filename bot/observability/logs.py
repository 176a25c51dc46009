"""Structured logs (structlog) that never carry tokens, message texts or personal data.

One redaction for every log line: structlog's own loggers and the standard library's (uvicorn,
SQLAlchemy, APScheduler, alembic, aiogram…) go through the same processors, the latter via
``structlog.stdlib.ProcessorFormatter`` on the root handler. So a traceback uvicorn prints for
an "Exception in ASGI application" is rendered by ``format_exception_safely`` too.

Why exceptions lose their messages: a database error's text carries the statement's parameters
and PostgreSQL's ``DETAIL: Key (customer_id)=(c-42)`` / ``Failing row contains (…, Giulia, …)``;
pydantic's carries the input; a ``KeyError`` its key. None of it is needed to find the bug, all
of it may be personal data. A logged exception keeps its type, the SQL statement (no
parameters), the SQLSTATE and the stack (files, lines, functions), for each link of its chain.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import structlog

#: Keys whose values are never logged (customer words, secrets).
REDACTED_KEYS = frozenset(
    {"text", "comment", "token", "secret", "password", "payload", "authorization", "body", "parameters"}
)
_TOKEN = re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b")  # a Telegram bot token
#: Loggers that print statement parameters or request details at INFO/DEBUG: kept at WARNING.
QUIET = ("httpx", "aiogram.event", "apscheduler", "uvicorn.access", "sqlalchemy.engine", "sqlalchemy.pool")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop sensitive keys and mask anything shaped like a bot token."""
    for key in list(event):
        if key.lower() in REDACTED_KEYS:
            event[key] = "[redacted]"
        elif isinstance(event[key], str):
            event[key] = _TOKEN.sub("[token]", event[key])
    return event


def _describe(exc: BaseException) -> str:
    """Return what is safe to say about one exception: its type, and for SQL its statement and code."""
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    details: list[str] = []
    statement = getattr(exc, "statement", None)  # sqlalchemy.exc.StatementError
    if isinstance(statement, str):
        details.append(f"SQL: {' '.join(statement.split())[:300]}")  # placeholders, not values
    orig = getattr(exc, "orig", None)
    if isinstance(orig, BaseException):
        details.append(f"driver error: {type(orig).__module__}.{type(orig).__qualname__}")
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(code, str):
            details.append(f"SQLSTATE {code}")
    return name + (f" ({'; '.join(details)})" if details else "") + " [message withheld]"


def safe_exception_text(exc: BaseException) -> str:
    """Return a traceback of ``exc`` and its causes without any exception message."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "The above was caused by:"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "The above happened while handling:"
        else:
            current = None
    parts: list[str] = []
    for item, how in chain:
        if how:
            parts.append(how)
        frames = traceback.extract_tb(item.__traceback__)
        for frame in frames:  # where, never the locals or the line's values
            parts.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        parts.append(_describe(item))
    return "\n".join(parts)


def format_exception_safely(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace ``exc_info`` with ``exception``: the safe traceback (see ``safe_exception_text``)."""
    exc_info = event.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        elif isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        if isinstance(exc_info, tuple) and exc_info[1] is not None:
            event["exception"] = safe_exception_text(exc_info[1])
    exception = event.get("exception")
    if isinstance(exception, str) and "[message withheld]" not in exception:
        event["exception"] = "[exception text withheld]"  # formatted elsewhere: may hold anything
    return event


def _stdlib_message(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """For a standard-library record, drop its arguments' values from SQLAlchemy's engine lines."""
    record = event.get("_record")
    if isinstance(record, logging.LogRecord) and record.name.startswith("sqlalchemy.engine"):
        event["event"] = str(record.msg)[:300]  # the template only: its args are statement parameters
    return event


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        format_exception_safely,
        redact,
    ]


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Send structlog and stdlib logs to stderr through one redaction, as JSON lines (or readable text)."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, _stdlib_message, *_shared()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        pass_foreign_args=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in (
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "alembic",
        "apscheduler",
        "sanic.root",
        "sanic.error",
        "sanic.access",
    ):
        # Libraries that install their own handlers (uvicorn's dictConfig) would print past the
        # redaction: their records go to the root handler instead.
        named = logging.getLogger(name)
        for old in list(named.handlers):
            named.removeHandler(old)
        named.propagate = True
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*_shared(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
