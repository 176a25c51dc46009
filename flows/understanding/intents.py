"""Replies that are not about the score: opt-out, refusal, help, greeting, language, a human.

Each detector takes folded text (see ``normalize.fold``) and returns whether the intent is there.
"""

from __future__ import annotations

import re

from flows.scales import Lang

_OPT_OUT_WHOLE = re.compile(
    r"^\W*(?:stop+|basta|cancellami|disiscrivimi|unsubscribe|opt[- ]?out|stop all)\W*$"
)
_OPT_OUT_ANY = re.compile(
    r"\b(?:unsubscribe|disiscriv\w*|cancellami|cancella(?:temi)? (?:dalla lista|il mio numero)"
    r"|toglietemi|toglimi"
    r"|rimuovimi|rimuovetemi|opt(?:-| )?out|remove me|take me off|basta (?:con )?(?:questi |i |sti |le "
    r"|tutti questi )?"
    r"(?:messaggi|sondaggi|domande|sms|notifiche|questionari)|non (?:mi )?(?:scriv|contatt|mand)\w* piu"
    r"|non (?:voglio|vogliamo) piu (?:ricevere|messaggi|sondaggi|essere contattat\w*)"
    r"|smett\w* di (?:scriver|mandar|contattar|inviar)\w*|stop (?:texting|messaging|sending|writing"
    r"|contacting"
    r"|emailing|spamming|these|the messages|the surveys|asking)|(?:don'?t|do not) (?:text|message"
    r"|contact|email|write to"
    r"|send me)|no more (?:messages|surveys|texts|questions)|leave me alone|lasciatemi in pace"
    r"|lasciami in pace"
    r"|non (?:mi )?interessa(?:no)? (?:questi|i) (?:messaggi|sondaggi))\b"
)
_REFUSAL_PHRASES = re.compile(
    r"\b(?:non (?:lo )?so(?: proprio| dire)?|non saprei(?: dire| proprio)?|bo+h+|bho|ma+h+|skip|salta"
    r"|passo|pass"
    r"|next|not now|later|maybe later|ask me later|more tardi|piu tardi|dopo|magari dopo|un'? ?altra volta"
    r"|another time|non ora|non adesso|adesso no|ora no|non ho tempo|no time|(?:i )?(?:don'?t"
    r"|do not) have (?:the )?time"
    r"|preferisco non (?:rispondere|dirlo|dire|votare)|(?:i'?d )?prefer not to (?:say|answer|respond|reply)"
    r"|(?:i'?d )?rather not(?: say| answer)?|no comment|nessun commento|non voglio rispondere"
    r"|(?:i )?(?:don'?t|do not) (?:want to )?(?:answer|say|reply)|(?:i )?(?:don'?t|do not) know|dunno"
    r"|idk|no idea"
    r"|not sure|non sono sicur[oa]|nessuna idea|n/?a|no grazie|no thanks?(?: you)?|nope|nah|no|non mi va"
    r"|not interested|non mi interessa|sorry|scusa|scusate|per ora|right now|at the moment|al momento|grazie"
    r"|thanks|thank you|ciao|busy|sono occupat[oa]|i'?m busy|forse|maybe|domani|tomorrow|un attimo)\b"
)
_HELP_WHOLE = re.compile(r"^\W*(?:help|aiuto|info|istruzioni|\?+|come|cosa|what|eh|huh|scusa\?|sorry\?)\W*$")
_HELP_ANY = re.compile(
    r"\b(?:(?:cosa|che) (?:devo|dovrei|bisogna) (?:scrivere|rispondere|fare|mettere|dire)"
    r"|non (?:ho )?capi(?:to|sco)"
    r"|what (?:do|should|am) i (?:supposed to )?(?:type|write|answer|reply|say|put|do)|i (?:don'?t"
    r"|do not) understand"
    r"|(?:don'?t|do not) get (?:it|the question)|come (?:funziona|rispondo|si risponde)"
    r"|che (?:significa|vuol dire)"
    r"|what does (?:this|that|it) mean|how (?:does this work|do i answer|do i reply)|what (?:scale"
    r"|is the scale)"
    r"|(?:quale|che) scala|da (?:0|1|uno|zero) a (?:cosa|quanto)|what'?s this|cos'? ?e (?:questo|questa)"
    r"|chi (?:sei|siete)|who (?:is this|are you)|what is this about|in che senso|what do you mean|cioe\?)"
)
_GREETING_WHOLE = re.compile(
    r"^\W*(?:(?:ciao|salve|buongiorno|buonasera|buon pomeriggio|hey|hi|hello|hiya|good (?:morning"
    r"|afternoon|evening)"
    r"|hola|grazie(?: mille)?|thanks?(?: you)?|thank you|👋|🙂|😊)\W*)+$"
)
_HUMAN_ANY = re.compile(
    r"\b(?:(?:voglio|vorrei|posso|potrei|mi passi|passami|mi serve|ho bisogno di|fatemi) (?:\w+ ){0,3}"
    r"(?:operatore|persona|umano|essere umano|responsabile)|parlare con (?:qualcuno|una persona|un operatore"
    r"|un umano|un responsabile|voi|un essere umano)|persona (?:vera|reale|fisica)|essere umano"
    r"|(?:fatemi|fammi) (?:chiamare|parlare)|(?:chiamatemi|richiamatemi)|(?:talk|speak|chat) (?:to|with) "
    r"(?:a |an |some|a real |your |the )?(?:person|human|agent|operator|someone|somebody|manager"
    r"|representative"
    r"|real|people)|real person|actual person|live (?:agent|person|chat)|(?:want|need|get me"
    r"|connect me (?:to|with)"
    r"|can i (?:have|get|speak to|talk to)) (?:a |an |to a |to an )?(?:human|person|agent|operator"
    r"|representative)"
    r"|call me(?: back)?)\b"
)
_HUMAN_WHOLE = re.compile(
    r"^\W*(?:human|agent|operator|operatore|umano|persona|representative)(?: please| per favore| pls"
    r"| grazie)?\W*$"
)
# (pattern, language asked for); "non parlo italiano" asks for English.
_LANGUAGE: tuple[tuple[re.Pattern[str], Lang], ...] = (
    (
        re.compile(
            r"\b(?:non parlo (?:l')?italiano|i (?:don'?t|do not|can'?t) (?:speak|read|understand) italian)\b"
        ),
        Lang.EN,
    ),
    (
        re.compile(
            r"\b(?:non parlo (?:l')?inglese|i (?:don'?t|do not|can'?t) (?:speak|read|understand) english)\b"
        ),
        Lang.IT,
    ),
    (
        re.compile(
            r"\b(?:in inglese|english(?: please| pls)?|(?:speak|write|switch to|use) english"
            r"|parl\w* (?:in )?inglese"
            r"|inglese(?: per favore| grazie)?)\b"
        ),
        Lang.EN,
    ),
    (
        re.compile(
            r"\b(?:in italiano|italian(?: please| pls)?|(?:speak|write|switch to|use) italian"
            r"|parl\w* (?:in )?italiano"
            r"|italiano(?: per favore| grazie)?)\b"
        ),
        Lang.IT,
    ),
)
_WORDS = re.compile(r"[\w']+")


_PRIVACY = re.compile(
    r"\b(?:privacy|gdpr|(?:cancella|cancellate|elimina|eliminate|rimuovi|rimuovete)\w* (?:tutti )?i miei dati"
    r"|(?:delete|erase|remove|wipe) (?:all )?(?:of )?my (?:personal )?data|i miei dati personali"
    r"|(?:che|quali) dati (?:avete|hai|tenete|conservate)|what (?:personal )?data do you (?:have|keep|store)"
    r"|right to be forgotten|diritto all'?oblio)\b"
)


def is_privacy(folded: str) -> bool:
    """Return True when the customer asks about their data or to erase it."""
    return _PRIVACY.search(folded) is not None


def is_opt_out(folded: str) -> bool:
    """Return True when the customer asks to stop receiving surveys."""
    return bool(_OPT_OUT_WHOLE.match(folded) or _OPT_OUT_ANY.search(folded))


def is_refusal(folded: str) -> bool:
    """Return True when the reply is only a refusal or deferral ("boh", "not now"), nothing else."""
    if not _REFUSAL_PHRASES.search(folded):
        return False
    rest = _REFUSAL_PHRASES.sub(" ", folded)
    return not _WORDS.search(rest)


def is_help(folded: str) -> bool:
    """Return True when the customer asks what to answer or what the question means."""
    return bool(_HELP_WHOLE.match(folded) or _HELP_ANY.search(folded))


def is_greeting(folded: str) -> bool:
    """Return True when the reply is only a greeting or thanks."""
    return _GREETING_WHOLE.match(folded) is not None


def is_human(folded: str) -> bool:
    """Return True when the customer asks to talk to a person."""
    return bool(_HUMAN_WHOLE.match(folded) or _HUMAN_ANY.search(folded))


def language_asked(folded: str) -> Lang | None:
    """Return the language a short reply asks for ("english please", "in italiano"), else None."""
    if len(_WORDS.findall(folded)) > 8:
        # In a long text "english" is likely part of a comment, not a request.
        return None
    for pattern, lang in _LANGUAGE:
        if pattern.search(folded):
            return lang
    return None
