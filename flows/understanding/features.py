"""The features the learned negativity model reads: one function shared by training and scoring.

Training (``scripts/train_nlu.py``) and the bot call the same functions, from ``comment_text``
(the text read, without a leading score) to ``vector``, so what the model was fitted on is
exactly what it sees in production. Pure string work: no I/O.

Features of a folded text (lower case, no accents, see ``normalize``):
- character 2..5-grams inside each word padded with spaces (" mai ", "rott"), counted, which
  survive typos, missing accents and inflections ("rotto", "rotta", "rottoo");
- word unigrams and bigrams ("w:non", "w:non arrivato"), where emoji and punctuation marks
  count as words, so "👏" or "??" are read as well;
- the words after a negator ("n:male" in "non e male"), the last words ("e:fine by me"), and the
  feeling of each emoji ("emo:neg" for "🤬" or "😡");
- the rules' verdict ("r:negative", "r:topic=damaged"), so the model learns how far to trust them;
- cues of a happy message, at 1 whatever the text's length: how many praise words it holds, not
  negated ("cue:pos=2" for "great, love it"), and whether it says a problem is solved ("cue:solved"
  for "risolto", "now all good", "turned out it was just the box"), each also paired with the
  rules' verdict ("cue:solved&r:negative"), so a scary word in a happy message weighs less;
- a letter's courtesies, also paired with the rules' verdict: a greeting opening the text
  ("cue:greet": "buongiorno", "dear team") and a sign-off closing it ("cue:signoff": "cordiali
  saluti", "kind regards", "thanks again").
  Praise from any domain counts, not only the words the training writers used.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass

from flows.understanding.normalize import fold

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


#: A number (or fraction) opening a text, with the punctuation after it.
LEADING_SCORE = re.compile(
    r"^\s*(?:\d{1,2}\s*(?:/|su|out of)\s*\d{1,2}(?:\s*[,.;:!)\-–—]+)?|\d{1,2}\s*[,.;:!)\-–—]+)(?:\s+|$)"
    r"|^\s*\d{1,2}\s*$",
    re.I,
)


def comment_text(text: str) -> str:
    """Return the folded text of a comment that the rules and the model read, in training and in the bot.

    A leading score ("4, corriere gentile", "9/10 great") is the customer's rating, not words
    about their experience, and digits read as a grievance: it goes before anything is read.
    """
    return fold(LEADING_SCORE.sub("", text, count=1))


# Praise, as whole words or word stems (a stem matches every word it starts).
_PRAISE_WORDS = frozenset(
    (  # noqa: SIM905 (one string reads better than sixty lines of single words)
        "bello bella belli belle bravo brava bravi brave contento contenta contenti contente consiglio top"
        " super meraviglia grazie adoro amo great excellent amazing awesome brilliant lovely love loved"
        " loves loving happy pleased delighted chuffed fantastic wonderful superb thanks cheers nice good"
        " fast easy smooth helpful friendly cracking ace godsend impressed sturdy solid worth bargain"
        " faultless flawless gorgeous beautiful cute adorable grand"
    ).split()
)
_PRAISE_STEMS = (
    "perfett",
    "ottim",
    "eccellent",
    "fantastic",
    "stupend",
    "bellissim",
    "bravissim",
    "gentil",
    "cortes",
    "contentissim",
    "felic",
    "soddisfatt",
    "consigliat",
    "spettacol",
    "meraviglios",
    "comod",
    "veloc",
    "rapid",
    "puntual",
    "precis",
    "impeccabil",
    "favolos",
    "recommend",
    "perfect",
    "quick",
)
_PRAISE_PHRASES = ("thank you", "spot on", "well done")
# A problem said to be over: words (stems) and phrases.
_SOLVED_STEMS = (
    "risolt",
    "sistemat",
    "rimborsat",
    "sostituit",
    "rimediat",
    "solved",
    "resolved",
    "sorted",
    "fixed",
    "replaced",
    "refunded",
)
_SOLVED_PHRASES = (
    "tutto a posto",
    "tutto ok",
    "tutto bene",
    "ora funziona",
    "adesso funziona",
    "ora va",
    "adesso va",
    "alla fine",
    "era solo",
    "falso allarme",
    "colpa mia",
    "all good",
    "all fine",
    "works now",
    "now works",
    "working now",
    "in the end",
    "turned out",
    "it was just",
    "false alarm",
    "no harm done",
    "my bad",
    "my fault",
)
_MOST_PRAISE = 3  # "cue:pos=3" stands for three praise words or more
# A letter's courtesies: a greeting that opens the text, a sign-off that closes it. Long friendly
# messages carry them and complaints seldom do (on the training writers, 147 of 157 sign-offs close a
# comment nobody needs to read), so they weigh against the scary words such messages tell.
_GREETING = re.compile(
    r"^\W*(?:hi|hiya|hello|hey|dear|good (?:morning|afternoon|evening)|greetings|morning|ciao|salve"
    r"|buongiorno|buonasera|buon ?giorno|gentil[ei]|egregi\w*|spett\w*|carissim\w*|cari)\b"
)
_SIGN_OFF = re.compile(
    r"(?:regards|best wishes|all the best|many thanks|thanks again|thanks so much|thank you (?:so|very)"
    r" much|thanks a lot|cheers|take care|have a (?:nice|great|good|lovely) (?:day|week|weekend)"
    r"|keep it up|keep up the good work|cordiali saluti|distinti saluti|saluti|un saluto|grazie ancora"
    r"|grazie mille|grazie di tutto|buona giornata|buona serata|buon lavoro|continuate cosi|a presto)\b"
)
_SIGN_OFF_REACH = 60  # characters at the end of a text where a sign-off is looked for


def _cues(text: str, words: list[str], negated: list[bool]) -> frozenset[str]:
    """Return the happy cues of a text and its words (``negated[i]``: a negator just before word i)."""
    praise = solved = 0
    for word, negated_word in zip(words, negated, strict=True):
        if negated_word:
            continue
        if word in _PRAISE_WORDS or word.startswith(_PRAISE_STEMS):
            praise += 1
        elif word.startswith(_SOLVED_STEMS):
            solved += 1
    joined = f" {' '.join(words)} "
    praise += sum(f" {phrase} " in joined for phrase in _PRAISE_PHRASES)
    solved += any(f" {phrase} " in joined for phrase in _SOLVED_PHRASES)
    cues = {f"cue:pos={min(praise, _MOST_PRAISE)}", "cue:pos"} if praise else set()
    if solved:
        cues.add("cue:solved")
    if _GREETING.search(text):
        cues.add("cue:greet")
    if _SIGN_OFF.search(text[-_SIGN_OFF_REACH:]):
        cues.add("cue:signoff")
    return frozenset(cues)


@functools.lru_cache(maxsize=65536)
def char_grams(word: str) -> frozenset[str]:
    """Return the character n-grams of `` word `` (cached: words repeat from comment to comment)."""
    padded = f" {word} "
    size = len(padded)
    return frozenset(
        padded[i : i + n] for n in range(_CHAR_MIN, min(_CHAR_MAX, size) + 1) for i in range(size - n + 1)
    )


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """The features of one text, in the two blocks the vector scales separately."""

    # The words whose character n-grams count (with repeats: n-grams are counted, so a text's
    # character score is the sum of its words' scores, which the scorer caches per word).
    char_words: list[str]
    words: set[str]  # word uni/bigrams (w:), negated words (n:), last words (e:), emoji feelings (emo:)
    cues: frozenset[str] = frozenset()  # happy-message cues (cue:), each worth 1

    def char_count(self) -> int:
        """Return how many character n-grams the text has, repeats included."""
        return sum(len(char_grams(w)) for w in self.char_words)


def text_features(folded: str) -> TextFeatures:
    """Return the n-gram features of a folded text (sets: each counts once)."""
    text = folded[:MAX_MODEL_CHARS]
    pieces = _TOKENS.findall(text)
    char_words: list[str] = []
    word_negated: list[bool] = []
    out: set[str] = set()
    previous = ""
    negated = 0
    for piece in pieces:
        if piece[0].isalnum() or piece[0] == "_":
            char_words.append(piece)
            word_negated.append(negated > 0)
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
    return TextFeatures(char_words, out, _cues(text, char_words, word_negated))


_PAIRED_CUES = ("cue:pos", "cue:solved", "cue:greet", "cue:signoff")


def rule_features(negative: bool, topics: tuple[str, ...], cues: frozenset[str]) -> set[str]:
    """Return the features that carry the rules' verdict on the same text, with its happy cues."""
    out = {f"r:topic={t}" for t in topics} | cues
    if negative:
        out.add("r:negative")
        out.update(f"{cue}&r:negative" for cue in _PAIRED_CUES if cue in cues)
    return out


def scale(count: int) -> float:
    """Return the value one feature of a block of ``count`` features gets: 1/sqrt(count)."""
    return 1.0 / math.sqrt(count) if count else 0.0


def vector(feats: TextFeatures, rule_feats: set[str]) -> dict[str, float]:
    """Return the sparse feature vector: rule features at 1, and two blocks of n-grams.

    Character n-grams and word features are scaled separately, so the hundreds of character
    n-grams of a long text do not drown its few words: a character n-gram is worth its count
    times 1/sqrt(n-grams of the text), a word feature 1/sqrt(word features of the text).
    """
    counts: Counter[str] = Counter()
    for word in feats.char_words:
        counts.update(char_grams(word))
    char_scale = scale(feats.char_count())
    vec = {gram: n * char_scale for gram, n in counts.items()}
    vec.update(dict.fromkeys(feats.words, scale(len(feats.words))))
    for feat in rule_feats:
        vec[feat] = 1.0
    return vec
