"""Control characters in untrusted input.

Identifiers, names and other structured fields must not carry control characters: NUL cannot
be stored by PostgreSQL (``text`` and ``jsonb`` refuse it, an unguarded write answered 500), and
the others (ESC, backspace, bidi-less C0/C1 codes) serve only to corrupt logs, terminals and
cards. Those fields are refused with 422 naming the field (``find_control``).

Free text typed by customers and agents (chat messages) is different: refusing it would drop
an answer, so ``strip_control`` removes the characters and keeps the words; tab, line feed and
carriage return are kept there because they are ordinary in messages.
"""

from __future__ import annotations

import re
from typing import Any

#: C0 controls, DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The same, without tab, line feed and carriage return (allowed in free text).
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control(value: str) -> bool:
    """Return True when ``value`` contains a control character."""
    return _CONTROL.search(value) is not None


def strip_control(text: str) -> str:
    """Return free text without control characters (tab and line breaks kept)."""
    return _CONTROL_IN_TEXT.sub("", text)


def find_control(data: Any, path: str = "") -> str | None:
    """Return the path (``customer.name``, ``order.items[0].name``) of the first string with a control.

    Object keys are checked too (a key with NUL names its parent path).
    """
    if isinstance(data, str):
        return (path or "body") if has_control(data) else None
    if isinstance(data, dict):
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_control(key):
                return path or "body"
            found = find_control(value, child)
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = find_control(value, f"{path}[{index}]")
            if found is not None:
                return found
    return None
