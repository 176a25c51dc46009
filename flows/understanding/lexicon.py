"""Word lists for reading scores: number words, units that make a number a count, score markers.

All patterns run on folded text (lower case, no accents, see ``normalize``).
"""

from __future__ import annotations

import re

from flows.scales import Metric

#: Italian and English number words up to twelve (eleven and twelve exist to be re-asked as out of range).
NUMBER_WORDS: dict[str, int] = {
    "zero": 0,
    "uno": 1,
    "due": 2,
    "tre": 3,
    "quattro": 4,
    "cinque": 5,
    "sei": 6,
    "sette": 7,
    "otto": 8,
    "nove": 9,
    "dieci": 10,
    "undici": 11,
    "dodici": 12,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}

#: Words that are numbers only when they stand alone: "sei" (you are), "uno"/"one" (pronouns),
#: "due" (English "due to").
AMBIGUOUS_WORDS = frozenset({"sei", "uno", "one", "due"})

_WORD_ALT = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
#: A number: digits with an optional decimal part, or a number word.
NUMBER_RE = re.compile(rf"(?<![\w])(?:(?P<dig>\d+(?:[.,]\d+)?)|(?P<word>(?:{_WORD_ALT})))(?![\w])")

_UNITS = (
    r"giorn[oi]|gg|settiman[ae]|mes[ei]|or[ae]|minut[oi]|second[oi]|volt[ae]|chiamat[ae]|telefonat[ae]"
    r"|e-?mail|mail|messagg[io]|sms|pacc(?:o|hi|hetti|hetto)|coll[oi]|articol[oi]|pezz[oi]|prodott[oi]"
    r"|ordin[ei]|euro|eur|cent(?:esimi)?|problem[ai]|anni|anno|tentativ[oi]|sollecit[oi]|richiest[ae]"
    r"|ticket|operator[ei]|person[ae]|scatole|km|chilometri|metri|rate|risposte|piani|giorni"
    r"|days?|weeks?|months?|hours?|hrs?|minutes?|mins?|seconds?|secs?|times|calls?|e-?mails?|messages?"
    r"|texts?|parcels?|packages?|boxes|box|items?|pieces?|products?|orders?|euros?|dollars?|bucks|pounds"
    r"|quid|problems?|issues?|attempts?|tickets?|people|agents?|years?|miles?|reminders?"
    r"|gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre"
    r"|january|february|march|april|may|june|july|august|september|october|november|december"
)
#: After a number: a unit (optionally after one adjective) makes it a count, not a score.
COUNTED_AFTER_RE = re.compile(
    r"\s*(?:(?:lunghi|lunghe|interi|intere|full|whole|long|more|extra|altri|altre|other|business"
    r"|working|lavorativi|diversi|different|separate|di)\s+)?(?:" + _UNITS + r")\b"
    r"|(?:h|gg|min|mins|m|x|st|nd|rd|th|k|kg|cm|mm|ml|gb|mb|am|pm|a\.m|p\.m)\b|\s?(?:%|€|\$|£|°)|:\d"
)
#: Before a number: an order/ticket number, a price or a clock time.
ID_BEFORE_RE = re.compile(
    r"(?:#|\bn\.\s*|\bn°\s*|\bnr\.?\s*|\bnum(?:ero)?\.?\s*|\bordine\s+(?:n\.?\s*)?|\border\s+(?:no\.?\s*)?"
    r"|\bticket\s+|\brichiesta\s+|\brequest\s+|\bpratica\s+|\bcase\s+|\bcodice\s+|\bcode\s+|€\s*|\$\s*|£\s*"
    r"|\balle\s+|\bore\s+|\bx)$"
)
#: After a number: "stelle"/"stars" or one star emoji makes it a star count ("4 stelle su 5", "5 ⭐").
STAR_UNIT_RE = re.compile(
    r"\s*(?:stell[ae]\b|stars?\b|[⭐🌟★](?![⭐🌟★]))(?:\s*(?:su|out of|of|/)\s*(?:5|cinque|five)\b)?"
)
#: Between two numbers: a fraction ("9/10", "4 su 5", "ten out of ten").
FRACTION_SEP_RE = re.compile(r"^\s*(?:/|\\|su|out of|of|over)\s*$")
#: Between two numbers: a range or an alternative ("7-8", "7 o 8", "6 to 7", "tra 7 e 8").
RANGE_SEP_RE = re.compile(
    r"^\s*(?:-|o|or|oppure|to|a|al|e|and|/|~|,? ?forse|,? ?maybe|,? ?o forse|,? ?or maybe)\s*$"
)
#: Before the first number of a range.
RANGE_BEFORE_RE = re.compile(r"\b(?:tra|fra|between|da|from)\s*$")
#: After a number: a decimal spelt out ("otto e mezzo", "seven and a half", "sette virgola cinque").
DECIMAL_AFTER_RE = re.compile(
    r"^\s*(?:e\s+mezz[oa]|and\s+a\s+half|(?:virgola|point|punto)\s+\w+|\.5\b|,5\b|e\s+un\s+quarto"
    r"|and\s+a\s+bit)"
)
#: After a ten: the Italian school top mark "dieci e lode".
LODE_AFTER_RE = re.compile(r"^\s*(?:e|con)\s+lode\b")
#: Between two scores: a self-correction; the later value wins.
CORRECTION_RE = re.compile(
    r"\b(?:anzi|no aspetta|aspetta|cioe|volevo dire|intendevo|correggo|correzione|o meglio|facciamo"
    r"|diciamo|ripensandoci|ci ripenso|sorry|scusa|scusate|i meant|meant|i mean|actually|wait|make it"
    r"|rather|on second thought|instead|invece|so|quindi|allora|ok|okay|no|nah)\b|\.\.\.|\?\s"
)
#: Words before a number that make it a score: "voto 7", "ti do un 8", "I'd give it a 9".
EXPLICIT_BEFORE_RE = re.compile(
    r"(?:\b(?:voto|votazione|punteggio|score|rating|rate|nps|csat|ces|do|darei|metto|metterei|direi|dico"
    r"|give|gave|giving|say|un|una|a|an|forse|probabilmente|maybe|probably|perhaps|circa|about|tipo"
    r"|like|it's|its|is|un bel|a solid|solid)\s*[:=]?\s*|^\s*)$"
)
#: Words a number word may be followed by and still be a score ("otto ma...", "eight because...").
FOLLOWERS_OK_RE = re.compile(
    r"^\s*(?:$|[^\w\s]|(?:ma|pero|perche|per|visto|dato|anche|pieno|secco|tondo|but|because|since|as|for"
    r"|overall|though|although|i|honestly|really|sincerely|sinceramente|direi|grazie|thanks)\b)"
)
#: Emoji and words that are not scores but look like answers: thumbs, OK hand, 💯.
THUMBS_RE = re.compile(r"[👍👎👌💯]")
#: Filled star characters (⭐ and 🌟 emoji, ★); hollow ☆ counts for nothing.
STAR_CHARS = frozenset("⭐🌟★")
STAR_RUN_RE = re.compile(r"[⭐🌟★☆](?:\s*[⭐🌟★☆])*")
#: Asterisks typed as stars, standing as a word of their own: "*****".
ASTERISK_RUN_RE = re.compile(r"(?<![\w*])\*+(?![\w*])")
#: Irony markers that turn a score into a question mark.
SARCASM_RE = re.compile(
    r"\bcome no\b|\bsi,? certo\s*(?:\.\.\.|,)|\bcerto,? come no|\bma certo\b|\bseee+\b|\bgrazie tante\b"
    r"|\bfiguriamoci\b|\byeah,? right\b|\bas if\b|\boh,? sure\b|\bsure,? sure\b|\byeah,? sure\b|🙄|🙃|😒"
)
#: CES: words saying it was easy, and words saying it was hard.
EASY_RE = re.compile(
    r"\b(?:facil\w*|semplic\w*|senza (?:alcuno )?sforzo|una passeggiata|easy|easily|effortless\w*|simple"
    r"|a breeze|straightforward|no effort|smooth\w*)\b"
)
HARD_RE = re.compile(
    r"\b(?:difficil\w*|complicat\w*|incubo|impossibil\w*|faticos\w*|frustrant\w*|un casino|hard|difficult"
    r"|nightmare|impossible|complicated|painful|a pain|a struggle|frustrating|confusing|confus\w*)\b"
)
#: Words that negate the following few words.
NEGATORS = frozenset(
    {
        "non",
        "not",
        "no",
        "nessun",
        "nessuna",
        "nessuno",
        "niente",
        "nothing",
        "senza",
        "without",
        "zero",
        "0",
        "never",
        "mai",
        "nemmeno",
        "neanche",
        "nor",
        "manco",
        "nulla",
        "none",
        "hardly",
        "affatto",
    }
)
#: Words carrying no comment on their own ("9, grazie" has no comment).
FILLER_WORDS = frozenset(
    {
        "voto",
        "score",
        "rating",
        "direi",
        "dico",
        "forse",
        "probabilmente",
        "maybe",
        "probably",
        "perhaps",
        "i'd",
        "id",
        "say",
        "give",
        "it",
        "a",
        "an",
        "un",
        "una",
        "do",
        "ti",
        "vi",
        "darei",
        "metto",
        "grazie",
        "thanks",
        "thank",
        "you",
        "ok",
        "okay",
        "ciao",
        "bye",
        "si",
        "yes",
        "no",
        "anzi",
        "sorry",
        "scusa",
        "meant",
        "i",
        "mean",
        "actually",
        "wait",
        "aspetta",
        "volevo",
        "dire",
        "intendevo",
        "cioe",
        "so",
        "quindi",
        "allora",
        "su",
        "out",
        "of",
        "stelle",
        "stars",
        "star",
        "stella",
        "e",
        "and",
        "lode",
        "bel",
        "solid",
        "pieno",
        "secco",
        "tondo",
        "diciamo",
        "facciamo",
        "make",
        "the",
        "mille",
        "much",
        "tipo",
        "circa",
        "about",
        "like",
        "is",
        "its",
        "it's",
        "nah",
        "meglio",
        "rather",
        "instead",
        "invece",
        "ripensandoci",
        "correggo",
        "penso",
        "credo",
        "think",
        "guess",
        "would",
        "be",
        "sarebbe",
        "mio",
        "my",
        "answer",
        "risposta",
        "la",
        "il",
        "uhm",
        "ehm",
        "mmm",
        "hmm",
        "um",
        "uh",
        "beh",
        "be'",
        "boh",
        "per",
        "favore",
        "please",
        "pls",
        "da",
        "me",
        "from",
        "gave",
        "giving",
        "nps",
        "csat",
        "ces",
    }
)

# Endpoint labels quoted in the questions (CX_METHOD §1, §4), per metric, both languages.
_LABELS: dict[Metric, tuple[tuple[str, int], ...]] = {
    Metric.NPS: (
        (r"estremamente probabile", 10),
        (r"per niente probabile", 0),
        (r"extremely likely", 10),
        (r"not at all likely", 0),
    ),
    Metric.CSAT: (
        (r"molto soddisfatt[oaie]", 5),
        (r"per niente soddisfatt[oaie]", 1),
        (r"moltissimo", 5),
        (r"very satisfied", 5),
        (r"very dissatisfied", 1),
    ),
    Metric.CES: (
        (r"completamente d'? ?accordo", 7),
        (r"per niente d'? ?accordo", 1),
        (r"strongly agree", 7),
        (r"strongly disagree", 1),
    ),
}
#: Per metric, the endpoint-label patterns and their scores.
LABELS: dict[Metric, tuple[tuple[re.Pattern[str], int], ...]] = {
    metric: tuple((re.compile(rf"(?<!\w){pattern}(?!\w)"), score) for pattern, score in labels)
    for metric, labels in _LABELS.items()
}
#: CSAT Italian template says "1 (per niente)": only as the whole reply.
CSAT_PER_NIENTE_RE = re.compile(r"^\W*per niente\W*$")
