"""Cutting the score out of a reply to keep the customer's other words as the comment."""

from __future__ import annotations

import re

from flows.understanding.lexicon import FILLER_WORDS
from flows.understanding.normalize import Normalized, fold

_EDGE = " \t\r\n,.;:!?-–—()[]{}\"'«»…/|*=+~_"
_WORDS = re.compile(r"[\w']+")
_CONJUNCTIONS_START = re.compile(r"^(?:ma|però|pero|but|and|e|quindi|so)\b[\s,]*", re.IGNORECASE)
_CONJUNCTIONS_END = re.compile(r"[\s,]*\b(?:ma|però|pero|but|and|e|quindi|so)$", re.IGNORECASE)


def _meaningful(text: str) -> bool:
    """Return True when ``text`` holds a word that is not a filler ("grazie", "voto", "anzi")."""
    words = _WORDS.findall(fold(text))
    return any(w not in FILLER_WORDS and not w.isdigit() for w in words)


def comment_without(original: str, norm: Normalized, spans: tuple[tuple[int, int], ...]) -> str | None:
    """Return ``original`` minus the folded-text ``spans``, tidied; None when nothing meaningful is left."""
    cuts = sorted(norm.original_span(start, end) for start, end in spans)
    pieces: list[str] = []
    pos = 0
    for start, end in cuts:
        if start > pos:
            pieces.append(original[pos:start])
        pos = max(pos, end)
    pieces.append(original[pos:])
    text = re.sub(r"\s+", " ", " ".join(p.strip() for p in pieces if p.strip()))
    text = re.sub(r"\s+([,.;:!?])", r"\1", text).strip(_EDGE)
    # A cut score can leave its conjunction dangling: "ho aspettato due settimane ma [9]".
    text = _CONJUNCTIONS_END.sub("", _CONJUNCTIONS_START.sub("", text)).strip(_EDGE)
    return text if text and _meaningful(text) else None
