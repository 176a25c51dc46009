"""Telegram HTML made readable in a terminal: tags dropped, links spelled out, entities decoded."""

from __future__ import annotations

import html
import re

_LINK = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(\s[^<>]*)?/?>")


def terminal_text(telegram_html: str) -> str:
    """Return the plain text of a Telegram HTML message (``<a href=u>t</a>`` becomes ``t (u)``)."""
    text = _LINK.sub(
        lambda m: m.group(2) if m.group(1) in ("", m.group(2)) else f"{m.group(2)} ({m.group(1)})",
        telegram_html,
    )
    return html.unescape(_TAG.sub("", text))
