"""The features the learned negativity model reads: one function shared by training and scoring.

Training (``scripts/train_nlu.py``) and the bot call the same ``features``, so what the model
was fitted on is exactly what it sees in production. Pure string work: no I/O.

Features of a folded text (lower case, no accents, see ``normalize``):
- character 2..5-grams inside each word padded with spaces (" mai ", "rott"), which survive
  typos, missing accents and inflections ("rotto", "rotta", "rottoo");
- word unigrams and bigrams ("w:non", "w:non arrivato"), where emoji and punctuation marks
  count as words, so "👏" or "??" are read as well;
- the words after a negator ("n:male" in "non e male"), the last words ("e:fine by me"), and the
  feeling of each emoji ("emo:neg" for "🤬" or "😡");
- the rules' verdict ("r:negative", "r:topic=damaged"), so the model learns how far to trust them.
"""

from __future__ import annotations

import itertools
import math
import re

#: Longest text the model reads; beyond this a comment is an essay and the cap bounds the time.
MAX_MODEL_CHARS = 1000
_TOKENS = re.compile(r"\w+|[^\w\s]")
_CHAR_MIN, _CHAR_MAX = 2, 5
# A negator marks the next words of its clause ("non e male" -> "n:male"), so "not bad" and "bad"
# are different features.
_NEGATORS = frozenset(
    {
        "non",
        "not",
        "no",
        "never",
        "mai",
        "nessun",
        "nessuno",
        "nessuna",
        "niente",
        "nulla",
        "nothing",
        "nobody",
        "senza",
        "without",
        "nn",
        "neanche",
        "nemmeno",
        "neppure",
        "manco",
        "nor",
        "neither",
        "t",
    }
)
_NEGATION_REACH = 3
# The last words often carry the verdict of a long story ("... fine by me", "... mai piu").
_ENDING_WORDS = 6
# Emoji grouped by feeling, so an emoji never seen in training still counts ("🤬" like "😡").
_EMOJI_CLASSES = {
    **dict.fromkeys("😡🤬😠👎😤😒🙄😞😢😭🤦😩😫😣😖💩🤮🤢😑😐😕🙁☹😟😔", "emo:neg"),
    **dict.fromkeys("👍😍❤🥰😊🙏✨💯😀😁😃😄🤩💖💕💙💚💛🧡💜🙌🤗😎🌟⭐🎉🥳😘👌💪", "emo:pos"),
    **dict.fromkeys("👏💀🙃😂🤣😅🤡", "emo:ironic"),
}


def _char_grams(word: str, out: set[str]) -> None:
    """Add the character n-grams of `` word `` to ``out``."""
    padded = f" {word} "
    size = len(padded)
    for n in range(_CHAR_MIN, _CHAR_MAX + 1):
        if n > size:
            break
        for i in range(size - n + 1):
            out.add(padded[i : i + n])


def text_features(folded: str) -> set[str]:
    """Return the n-gram features of a folded text (a set: each counts once)."""
    pieces = _TOKENS.findall(folded[:MAX_MODEL_CHARS])
    out: set[str] = set()
    previous = ""
    negated = 0
    for piece in pieces:
        if piece[0].isalnum() or piece[0] == "_":
            _char_grams(piece, out)
            if negated:
                out.add("n:" + piece)
                negated -= 1
            if piece in _NEGATORS:
                negated = _NEGATION_REACH
        elif piece != "'":
            negated = 0
        out.add("w:" + piece)
        emoji_class = _EMOJI_CLASSES.get(piece)
        if emoji_class:
            out.add(emoji_class)
        if previous:
            out.add(f"w:{previous} {piece}")
        previous = piece
    ending = [t for t in pieces if t[0].isalnum() or t[0] == "_"][-_ENDING_WORDS:]
    out.update("e:" + t for t in ending)
    out.update(f"e:{a} {b}" for a, b in itertools.pairwise(ending))
    return out


def rule_features(negative: bool, topics: tuple[str, ...]) -> set[str]:
    """Return the features that carry the rules' verdict on the same text."""
    out = {f"r:topic={t}" for t in topics}
    if negative:
        out.add("r:negative")
    return out


def vector(text_feats: set[str], rule_feats: set[str]) -> dict[str, float]:
    """Return the sparse feature vector: rule features at 1, and two blocks of n-grams, each of unit length.

    Character n-grams and word features (``w:``, ``n:``, ``e:``, ``emo:``) are scaled separately,
    so the hundreds of character n-grams of a long text do not drown its few words.
    """
    chars = [f for f in text_feats if f[1:2] != ":" and not f.startswith("emo:")]
    words = [f for f in text_feats if f[1:2] == ":" or f.startswith("emo:")]
    vec: dict[str, float] = {}
    for block in (chars, words):
        if block:
            vec.update(dict.fromkeys(block, 1.0 / math.sqrt(len(block))))
    for feat in rule_feats:
        vec[feat] = 1.0
    return vec
