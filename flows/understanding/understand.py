"""The reply understander: from (text, metric asked, language) to an ``Understanding``. Pure, no I/O."""

from __future__ import annotations

from flows.scales import Lang, Metric
from flows.understanding import intents
from flows.understanding.comment import comment_without
from flows.understanding.lexicon import EASY_RE, HARD_RE, NEGATORS, SARCASM_RE
from flows.understanding.model import Intent, ReaskReason, Understanding
from flows.understanding.negativity import analyse_comment, verdict
from flows.understanding.normalize import Normalized, normalize
from flows.understanding.numbers import read_score

#: Longest text read; beyond this a reply is an essay, and the cap keeps the time per reply bounded.
MAX_CHARS = 4096
#: Up to this many words, a reply with no score to a rating question is judged by the rules alone.
SHORT_REPLY_WORDS = 3


def _effort_words(text: str) -> tuple[bool, bool]:
    """Return (says easy, says hard) for a CES comment, flipping negated words ("non facile")."""
    easy = hard = False
    for pattern, is_easy in ((EASY_RE, True), (HARD_RE, False)):
        for match in pattern.finditer(text):
            before = text[max(0, match.start() - 25) : match.start()].split()[-3:]
            negated = any(w in NEGATORS or w.endswith("n't") for w in before)
            if is_easy != negated:
                easy = True
            else:
                hard = True
    return easy, hard


def _contradicts(metric: Metric, score: int, comment: str | None) -> bool:
    """Return True when a CES score says the opposite of its words ("1, facilissimo!")."""
    if metric is not Metric.CES or comment is None:
        return False
    easy, hard = _effort_words(normalize(comment).text)
    return (score <= 3 and easy and not hard) or (score >= 5 and hard and not easy)


def _without_score(
    text: str, norm: Normalized, metric: Metric | None, lang: Lang, stage: str | None
) -> Understanding:
    """Return the understanding of a reply that holds no score (or when no question is open)."""
    folded = norm.text
    judged = verdict(text, lang, stage)
    rules_negative, topics = bool(judged.triggers), judged.topics
    negative = judged.negative
    if metric is not None and len(folded.split()) <= SHORT_REPLY_WORDS:
        # A few words with no score, answering a rating question, are mostly an unclear answer
        # ("very likely", "abbastanza d'accordo"): the model learnt comments, so only the rules decide.
        negative = rules_negative
    comment = text.strip() or None
    asked = intents.language_asked(folded)
    if asked is not None:
        return Understanding(intent=Intent.LANGUAGE, language=asked, negative=negative, topics=topics)
    if intents.is_human(folded):
        return Understanding(intent=Intent.HUMAN, comment=comment, negative=True, topics=topics)
    # Greetings and refusals must be the whole reply, so a complaint word inside ("più tardi") is not one.
    if intents.is_greeting(folded):
        return Understanding(intent=Intent.GREETING)
    if intents.is_refusal(folded):
        return Understanding(intent=Intent.REFUSE)
    if not rules_negative and intents.is_help(folded):
        return Understanding(intent=Intent.HELP)
    if negative or metric is None:
        return Understanding(intent=Intent.COMMENT, comment=comment, negative=negative, topics=topics)
    return Understanding(
        intent=Intent.REASK, reason=ReaskReason.UNCLEAR, comment=comment, negative=negative, topics=topics
    )


def understand(text: str, metric: Metric | None, lang: Lang, stage: str | None = None) -> Understanding:
    """Return what ``text`` means as a reply to a ``metric`` question (None: no question open).

    ``stage`` is the id of the stage the reply answers (None when unknown); it lets a comment
    read differently after a delivery ("nothing was there" is a parcel not received).

    With a question open: SCORE (score set, comment = the other words), REASK (reason set) or
    another intent. With no question open: never SCORE or REASK.
    """
    text = text[:MAX_CHARS]
    norm = normalize(text)
    if intents.is_privacy(norm.text):
        return Understanding(intent=Intent.PRIVACY)
    if intents.is_opt_out(norm.text):
        return Understanding(intent=Intent.OPT_OUT)
    if metric is None:
        return _without_score(text, norm, None, lang, stage)
    reading = read_score(norm, metric)
    if not reading.found:
        return _without_score(text, norm, metric, lang, stage)
    comment = comment_without(text, norm, reading.spans)
    negative, topics = analyse_comment(comment, lang, stage) if comment else (False, ())
    if reading.score is None:
        return Understanding(
            intent=Intent.REASK, reason=reading.reason, comment=comment, negative=negative, topics=topics
        )
    reason: ReaskReason | None = None
    if SARCASM_RE.search(norm.text):
        reason = ReaskReason.SARCASM
    elif _contradicts(metric, reading.score, comment):
        reason = ReaskReason.CONTRADICTION
    if reason is not None:
        return Understanding(
            intent=Intent.REASK, reason=reason, comment=comment, negative=negative, topics=topics
        )
    return Understanding(
        intent=Intent.SCORE, score=reading.score, comment=comment, negative=negative, topics=topics
    )
