"""Skip the rule patterns that cannot match a text, found in one pass over it.

Python's ``re`` tries every alternative of a pattern at every position of the text, so the
lexicon rules (alternations of dozens of words behind ``\\b``) cost about two microseconds per
character of a comment. Yet every match of a rule must contain one of a few literal strings (a
word stem such as ``risolt`` or ``refund``): these "needles" are read from each pattern's parse
tree once, at import. A single pattern, a trie of every needle behind a lookahead, then finds
which needles a text holds, and a rule runs only when it holds one of its own. The result is the
same as running every pattern; a pattern with no needle to gate it (flags, odd syntax) always runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from re import _constants as sre  # type: ignore[attr-defined, unused-ignore]  # the stdlib's own parser of patterns
from re import _parser as sre_parse  # type: ignore[attr-defined, unused-ignore]  # private: no stub
from typing import Any

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


def _shortest(needles: frozenset[str]) -> int:
    return min(map(len, needles))


def _better(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    """Return the more selective set: longer shortest needle, then fewer needles."""
    if a is None or b is None:
        return a if b is None else b
    return a if (_shortest(a), -len(a)) >= (_shortest(b), -len(b)) else b


def _needles_of(items: Sequence[tuple[Any, Any]]) -> frozenset[str] | None:
    """Return strings one of which every match of the parsed sequence contains (None: none known).

    Every element of a sequence is mandatory (a repeat with a minimum of 0 is skipped), so any one
    element's needles will do: the most selective is kept. Zero-width parts (``\\b``, lookarounds)
    are skipped, which only makes the condition weaker, never wrong.
    """
    best: frozenset[str] | None = None
    i = 0
    while i < len(items):
        op, av = items[i]
        if op is sre.LITERAL:
            run = ""
            while i < len(items) and items[i][0] is sre.LITERAL:
                run += chr(items[i][1])
                i += 1
            best = _better(best, frozenset({run}))
            continue
        if op is sre.SUBPATTERN:
            best = _better(best, _needles_of(av[-1]))
        elif op is sre.BRANCH:
            branches = [_needles_of(branch) for branch in av[1]]
            if all(b is not None for b in branches):
                best = _better(best, frozenset().union(*(b for b in branches if b is not None)))
        elif op in _REPEATS and av[0] >= 1:
            best = _better(best, _needles_of(av[2]))
        i += 1
    return best


def needles(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Return the literal strings one of which every match of ``pattern`` contains (None: unknown)."""
    if pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return None  # a literal would not be compared as written
    try:
        return _needles_of(sre_parse.parse(pattern.pattern, pattern.flags).data)
    except (re.error, AttributeError, TypeError, ValueError):
        return None


def _trie_pattern(words: Iterable[str]) -> str:
    """Return a regex matching the longest of ``words`` that starts at a position (a trie)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here: what follows is optional (greedy, so the longest wins)
            return body + "?" if len(branches) == 1 and len(body) == 1 else f"(?:{body})?"
        return body

    return emit(trie)


@dataclass(frozen=True, slots=True)
class Prefilter:
    """Tells, for a text, which of a sequence of patterns may match it."""

    gates: tuple[frozenset[str] | None, ...]  # per pattern: its needles, None when always run
    finder: re.Pattern[str] | None  # every needle, longest first, at every position
    # A needle found also means its prefixes that are needles ("non" inside "non funziona").
    prefixes: dict[str, frozenset[str]]

    @classmethod
    def of(cls, patterns: Iterable[re.Pattern[str]]) -> Prefilter:
        """Return the prefilter of ``patterns`` (in the order ``possible`` answers)."""
        gates = tuple(needles(p) for p in patterns)
        every = sorted({n for gate in gates if gate for n in gate})
        finder = re.compile(f"(?=({_trie_pattern(every)}))") if every else None
        prefixes = {n: frozenset(m for m in every if n.startswith(m)) for n in every}
        return cls(gates, finder, prefixes)

    def possible(self, text: str) -> list[bool]:
        """Return, per pattern, False when it cannot match ``text`` (True: run it)."""
        found: set[str] = set()
        if self.finder is not None:
            for match in self.finder.finditer(text):
                found |= self.prefixes[match.group(1)]
        return [gate is None or not gate.isdisjoint(found) for gate in self.gates]
