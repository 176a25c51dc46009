"""Finding the score in a reply: digits, number words, keycaps, stars, fractions and endpoint labels.

``read_score`` returns either a score or the reason the reply must be re-asked, plus the spans of
the folded text that belong to the score (so the rest can be kept as the comment).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from enum import Enum

from flows.scales import Metric
from flows.understanding import lexicon as lx
from flows.understanding.model import ReaskReason
from flows.understanding.normalize import Normalized


class Kind(Enum):
    """What sort of score-like thing a candidate is."""

    PLAIN = "plain"  # a number or a number word
    FRACTION = "fraction"  # N over the scale's own maximum
    OTHER_SCALE = "other_scale"  # N over another maximum
    DECIMAL = "decimal"
    STARS = "stars"
    LABEL = "label"  # an endpoint label quoted in the question


@dataclass(frozen=True, slots=True)
class Candidate:
    """A score-like piece of the folded text, ``text[start:end]``."""

    start: int
    end: int
    value: int
    kind: Kind
    big: bool = False  # three or more digits: an id or an amount unless nothing else is there
    digit: bool = False  # written with a single digit (for the "1 0" typo)


@dataclass(frozen=True, slots=True)
class ScoreReading:
    """The outcome of looking for a score.

    ``found`` is False when nothing score-like is in the text; otherwise exactly one of ``score``
    and ``reason`` is set. ``spans`` are folded-text spans holding the score and its markers.
    """

    found: bool
    score: int | None = None
    reason: ReaskReason | None = None
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class _Token:
    start: int
    end: int
    value: int
    decimal: bool
    word: str | None


_UNIT_THEN_FRACTION_RE = re.compile(r"^\s*(?:su|of|out of|/|di)\s*$")
_MINUS_RE = re.compile(r"\s*-\s*")
_END_OR_PUNCT_RE = re.compile(r"^\s*(?:$|[^\w\s])")
# Marker words left of a score that belong to it ("voto 7", "ti do un 8"): removed from the comment.
_LEFT_MARKERS_RE = re.compile(
    r"(?:\b(?:voto|votazione|punteggio|score|rating|nps|csat|ces|ti do|vi do|do|darei|ti darei|metto"
    r"|metterei|direi|dico|i'd give it|i would give it|i give it|i'd give|i give|give it|give|i'd say"
    r"|i would say|say|un bel|un|una|a solid|a|an|forse|probabilmente|maybe|probably|perhaps|circa|about"
    r"|tipo|diciamo|facciamo|make it|it's a|its a)\s*[:=]?\s*)+$"
)
_WORD_RE = re.compile(r"[\w']+")


def _tokens(text: str) -> list[_Token]:
    """Return every number (digits or number word) in folded ``text``, left to right."""
    tokens: list[_Token] = []
    for match in lx.NUMBER_RE.finditer(text):
        digits = match.group("dig")
        if digits is not None:
            whole, _, fraction = _split_decimal(digits)
            tokens.append(_Token(match.start(), match.end(), int(whole), bool(fraction), None))
        else:
            word = match.group("word")
            tokens.append(_Token(match.start(), match.end(), lx.NUMBER_WORDS[word], False, word))
    return tokens


def _split_decimal(digits: str) -> tuple[str, str, str]:
    """Return ``(whole, separator, fraction)`` of a digit string such as "7,5"."""
    for sep in ".,":
        if sep in digits:
            whole, fraction = digits.split(sep, 1)
            return whole[:6] or "0", sep, fraction
    # Cap the length: a 4096-digit string is not a score and int() of it would be slow.
    return digits[:6], "", ""


def _word_counts(tok: _Token, before: str, after: str) -> bool:
    """Return True when a number word is used as a number here (ANSWER_POLICY: sei/uno/one)."""
    explicit = lx.EXPLICIT_BEFORE_RE.search(before) is not None
    if tok.word in lx.AMBIGUOUS_WORDS:
        # Standing alone: at the start or right after a score marker, and ending its clause.
        return explicit and _END_OR_PUNCT_RE.match(after) is not None
    return explicit or lx.FOLLOWERS_OK_RE.match(after) is not None


def _negated_label(text: str, start: int) -> bool:
    """Return True when the label at ``start`` follows a negation ("non molto soddisfatto")."""
    words = _WORD_RE.findall(text[max(0, start - 20) : start])
    return bool(words) and words[-1] in {"non", "not", "no", "never", "mai"}


def _number_candidates(text: str, tokens: list[_Token], metric: Metric) -> list[Candidate]:
    """Return the candidates made of numbers: plain, fraction, decimal, star count."""
    cands: list[Candidate] = []
    skip: set[int] = set()
    for i, tok in enumerate(tokens):
        if i in skip:
            continue
        before, after = text[: tok.start], text[tok.end :]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if lx.ID_BEFORE_RE.search(before):
            continue
        if nxt is not None and lx.FRACTION_SEP_RE.match(text[tok.end : nxt.start]):
            skip.add(i + 1)
            if tok.decimal:
                kind = Kind.DECIMAL
            elif nxt.value == metric.high and not nxt.decimal:
                kind = Kind.FRACTION
            else:
                kind = Kind.OTHER_SCALE
            cands.append(Candidate(tok.start, nxt.end, tok.value, kind))
            continue
        counted = lx.COUNTED_AFTER_RE.match(after)
        if counted:
            # "2 pacchi su 3": the 3 counts parcels too.
            if nxt is not None and _UNIT_THEN_FRACTION_RE.match(text[tok.end + counted.end() : nxt.start]):
                skip.add(i + 1)
            continue
        stars = lx.STAR_UNIT_RE.match(after)
        if stars:
            cands.append(Candidate(tok.start, tok.end + stars.end(), tok.value, Kind.STARS))
            continue
        decimal = lx.DECIMAL_AFTER_RE.match(after)
        if tok.decimal or decimal:
            end = tok.end + (decimal.end() if decimal else 0)
            cands.append(Candidate(tok.start, end, tok.value, Kind.DECIMAL))
            continue
        lode = lx.LODE_AFTER_RE.match(after) if tok.value == 10 else None
        if lode:
            cands.append(Candidate(tok.start, tok.end + lode.end(), 10, Kind.PLAIN))
            continue
        if tok.word is not None and not _word_counts(tok, before, after):
            continue
        is_digit = tok.word is None
        raw = text[tok.start : tok.end]
        if is_digit and _MINUS_RE.fullmatch(before):
            # "-1" is a negative number, off every scale, not a 1.
            cands.append(Candidate(len(before) - len(before.lstrip()), tok.end, -tok.value, Kind.PLAIN))
            continue
        cands.append(
            Candidate(
                tok.start,
                tok.end,
                tok.value,
                Kind.PLAIN,
                big=is_digit and len(raw) >= 3,
                digit=is_digit and len(raw) == 1,
            )
        )
    return cands


def _other_candidates(text: str, metric: Metric) -> list[Candidate]:
    """Return star runs, asterisk runs and endpoint labels."""
    cands: list[Candidate] = []
    for match in lx.STAR_RUN_RE.finditer(text):
        filled = sum(1 for c in match.group() if c in lx.STAR_CHARS)
        if filled:
            cands.append(Candidate(match.start(), match.end(), filled, Kind.STARS))
    for match in lx.ASTERISK_RUN_RE.finditer(text):
        cands.append(Candidate(match.start(), match.end(), len(match.group()), Kind.STARS))
    for pattern, score in lx.LABELS[metric]:
        for match in pattern.finditer(text):
            if not _negated_label(text, match.start()):
                cands.append(Candidate(match.start(), match.end(), score, Kind.LABEL))
    if metric is Metric.CSAT and lx.CSAT_PER_NIENTE_RE.match(text):
        cands.append(Candidate(0, len(text), 1, Kind.LABEL))
    return cands


def _drop_overlaps(cands: list[Candidate]) -> list[Candidate]:
    """Return candidates sorted by position, dropping any inside an earlier, longer one."""
    result: list[Candidate] = []
    for cand in sorted(cands, key=lambda c: (c.start, -(c.end - c.start))):
        if result and cand.start < result[-1].end:
            continue
        result.append(cand)
    return result


def _valid(cand: Candidate, metric: Metric) -> ReaskReason | None:
    """Return why ``cand`` alone cannot be stored, or None when it is a good score."""
    if cand.kind is Kind.DECIMAL:
        return ReaskReason.DECIMAL
    if cand.kind is Kind.OTHER_SCALE:
        return ReaskReason.OTHER_SCALE
    if cand.kind is Kind.STARS and metric is not Metric.CSAT:
        return ReaskReason.STARS_NOT_ALLOWED
    if not metric.in_range(cand.value):
        return ReaskReason.OUT_OF_RANGE
    return None


def _score_spans(text: str, cands: list[Candidate]) -> tuple[tuple[int, int], ...]:
    """Return the spans to cut from the comment: each candidate with its left-hand markers."""
    spans: list[tuple[int, int]] = []
    for cand in cands:
        left = _LEFT_MARKERS_RE.search(text[: cand.start])
        spans.append((left.start() if left else cand.start, cand.end))
    # When the gaps between candidates hold only corrections and fillers, cut the whole stretch.
    if len(cands) > 1:
        gaps = " ".join(text[a.end : b.start] for a, b in itertools.pairwise(cands))
        if all(w in lx.FILLER_WORDS for w in _WORD_RE.findall(gaps)):
            spans = [(spans[0][0], spans[-1][1])]
    return tuple(spans)


def read_score(norm: Normalized, metric: Metric) -> ScoreReading:
    """Return the score in ``norm`` for ``metric``, or why there is none (see ``ScoreReading``)."""
    text = norm.text
    cands = _drop_overlaps(_number_candidates(text, _tokens(text), metric) + _other_candidates(text, metric))
    if any(not c.big for c in cands):
        # Long numbers next to a real score are amounts or ids ("ordine 10234, voto 9").
        cands = [c for c in cands if not c.big]
    if not cands:
        if lx.THUMBS_RE.search(text):
            return ScoreReading(True, reason=ReaskReason.EMOJI)
        return ScoreReading(False)
    spans = _score_spans(text, cands)
    live = cands
    for k in range(len(cands) - 1):
        if lx.CORRECTION_RE.search(text[cands[k].end : cands[k + 1].start]):
            live = cands[k + 1 :]
    if len(live) == 2 and _is_typo(text, live[0], live[1]):
        return ScoreReading(True, reason=ReaskReason.TYPO, spans=spans)
    if len(live) > 1:
        reasons = {_valid(c, metric) for c in live}
        if len({c.value for c in live}) == 1 and reasons == {None}:
            live = live[-1:]
        else:
            return ScoreReading(True, reason=_several_reason(text, live), spans=spans)
    reason = _valid(live[0], metric)
    if reason is not None:
        return ScoreReading(True, reason=reason, spans=spans)
    return ScoreReading(True, score=live[0].value, spans=spans)


def _is_typo(text: str, first: Candidate, second: Candidate) -> bool:
    """Return True for two single digits parted only by spaces ("1 0"): a mistyped number."""
    between = text[first.end : second.start]
    return first.digit and second.digit and bool(between) and not between.strip()


def _several_reason(text: str, cands: list[Candidate]) -> ReaskReason:
    """Return the re-ask reason for several different values: typo, range or several aspects."""
    if len(cands) == 2:
        first, second = cands
        between = text[first.end : second.start]
        if lx.RANGE_SEP_RE.match(between) or (
            lx.RANGE_BEFORE_RE.search(text[: first.start]) and between.strip() in {"e", "and", "a", "al"}
        ):
            return ReaskReason.RANGE
    return ReaskReason.SEVERAL
