"""Turning untrusted JSON into a ``BusinessEventIn``, with errors naming the field."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bot.events.schema import BusinessEventIn
from bot.security.hygiene import find_control
from flows.errors import InputError


def error_field(error: ValidationError) -> tuple[str, str]:
    """Return (field path such as ``order.items[0].name``, message) of the first problem."""
    first = error.errors()[0]
    path = ""
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "required field is missing"
    return path or "body", message


def _clean(event: BusinessEventIn) -> BusinessEventIn:
    """Refuse control characters (NUL, ESC…) in any stored field, naming it (bot/security/hygiene.py)."""
    field = find_control(event.model_dump(mode="json"))
    if field is not None:
        raise InputError(f"{field}: control characters (such as NUL) are not allowed", field=field)
    return event


def parse_event(body: bytes | str) -> BusinessEventIn:
    """Return the event in JSON ``body``.

    Raises:
        InputError: naming the first invalid field (``body`` when it is not a JSON object), including
            a field with control characters.
    """
    try:
        event = BusinessEventIn.model_validate_json(body)
    except ValidationError as exc:
        field, message = error_field(exc)
        raise InputError(f"{field}: {message}", field=field) from exc
    return _clean(event)


def validate_event(data: dict[str, Any]) -> BusinessEventIn:
    """Return the event in the already decoded ``data``.

    Raises:
        InputError: naming the first invalid field.
    """
    try:
        event = BusinessEventIn.model_validate(data)
    except ValidationError as exc:
        field, message = error_field(exc)
        raise InputError(f"{field}: {message}", field=field) from exc
    return _clean(event)
