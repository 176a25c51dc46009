"""Text normalisation shared by every matcher, keeping a map back to the customer's own characters."""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

# Keycap emoji are a base character, an optional VS16 and U+20E3; only digits are scores.
_KEYCAP_BASES = frozenset("0123456789#*")
_KEYCAP = "\u20e3"
_VS16 = "\ufe0f"
# Characters rewritten before Unicode decomposition: quotes, dashes, the ellipsis, 🔟 and ½.
_REWRITE = {
    "’": "'",
    "‘": "'",
    "`": "'",
    "´": "'",
    "ʼ": "'",
    "“": '"',
    "”": '"',
    "«": '"',
    "»": '"',
    "„": '"',
    "…": "...",
    "–": "-",
    "—": "-",
    "−": "-",
    "‑": "-",
    "🔟": " 10 ",
    "½": ",5",
}
# Combining marks (accents, VS16), modifiers (skin tones) and format characters (ZWJ) carry no meaning here.
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Sk", "Cf"})


@dataclass(frozen=True, slots=True)
class Normalized:
    """Lower-cased, accent-free text; ``index[i]`` is the original position of ``text[i]``."""

    text: str
    index: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Return the original ``(start, end)`` covered by normalised ``text[start:end]``."""
        if start >= end or start >= len(self.index):
            pos = self.index[start] if start < len(self.index) else (self.index[-1] + 1 if self.index else 0)
            return pos, pos
        return self.index[start], self.index[end - 1] + 1


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    """Return ``char`` lower-cased without accents, variation selectors or modifiers (cached)."""
    if char.isascii():
        return char.lower()
    folded = unicodedata.normalize("NFKD", char.casefold())
    return "".join(c for c in folded if unicodedata.category(c) not in _DROPPED_CATEGORIES)


def normalize(text: str) -> Normalized:
    """Return ``text`` folded for matching: keycaps become digits, accents and emoji variants go."""
    out: list[str] = []
    index: list[int] = []
    i = 0
    length = len(text)
    while i < length:
        char = text[i]
        piece: str
        consumed = 1
        if char in _KEYCAP_BASES:
            j = i + 1
            if j < length and text[j] == _VS16:
                j += 1
            if j < length and text[j] == _KEYCAP:
                # Padding keeps "8️⃣9️⃣" from fusing into 89; '#' and '*' keycaps are not scores.
                piece = f" {char} " if char.isdigit() else " "
                consumed = j + 1 - i
            else:
                piece = char
        elif char in _REWRITE:
            piece = _REWRITE[char]
        else:
            piece = _fold_char(char)
        out.append(piece)
        index.extend([i] * len(piece))
        i += consumed
    return Normalized("".join(out), tuple(index))


_REWRITE_TABLE = str.maketrans(_REWRITE)


def fold(text: str) -> str:
    """Return only the folded text of ``normalize(text)``, without building its index (the hot path).

    Without a keycap every character folds alone, so the rewrites are one ``str.translate`` and
    plain ASCII text only needs lower-casing; this is what keeps a long comment fast.
    """
    if _KEYCAP in text:
        return normalize(text).text
    rewritten = text.translate(_REWRITE_TABLE)
    if rewritten.isascii():
        return rewritten.lower()
    return "".join(map(_fold_char, rewritten))
