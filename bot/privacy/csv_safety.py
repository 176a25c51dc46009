"""CSV that is safe to open in a spreadsheet (CSV/formula injection) and, on request, shaped for Excel.

Any CSV cxbot writes with customers' words in it (``cxbot export``, report verbatims) should pass
its cells through :func:`safe_cell` and open its file with :func:`excel_dialect` when asked for Excel.
"""

from __future__ import annotations

import os
from typing import Any

#: A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
#: (tab and carriage return too: some spreadsheets strip them and read the next character).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: Languages whose locales write decimals with a comma, so Excel's list separator there is ";".
_DECIMAL_COMMA = frozenset(
    {
        "it",
        "de",
        "fr",
        "es",
        "pt",
        "nl",
        "da",
        "sv",
        "fi",
        "nb",
        "nn",
        "no",
        "pl",
        "cs",
        "sk",
        "sl",
        "hr",
        "hu",
        "ro",
        "bg",
        "ru",
        "uk",
        "el",
        "tr",
        "lt",
        "lv",
        "et",
        "id",
        "vi",
    }
)

#: Excel recognises UTF-8 only with a byte-order mark.
UTF8_BOM = "\ufeff"


def safe_cell(value: Any) -> Any:
    """Return ``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: dict[str, Any]) -> dict[str, Any]:
    """Return ``row`` with every cell made safe (see :func:`safe_cell`)."""
    return {key: safe_cell(value) for key, value in row.items()}


def locale_language(environ: dict[str, str] | None = None) -> str | None:
    """Return the language of the user's locale (LC_ALL, LC_NUMERIC, LANG), e.g. ``it``."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_NUMERIC", "LANG"):
        value = env.get(name, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return value.split("_")[0].split(".")[0].lower() or None
    return None


def excel_delimiter(language: str | None) -> str:
    """Return the separator Excel expects for ``language``: ``;`` where decimals use a comma, else ``,``."""
    return ";" if language and language.lower()[:2] in _DECIMAL_COMMA else ","
