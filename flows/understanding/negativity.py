"""Does a comment need a human, and what is it about? Lexicon rules with negation handling.

Complaint patterns already spell out their negation ("non è arrivato", "not fixed") and always
count. Polarity words ("pessimo", "bad", "problema") count unless a negator sits just before them
in the same clause ("non male", "not bad", "nessun problema").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flows.scales import Lang
from flows.topics import Topic
from flows.understanding.features import comment_text
from flows.understanding.learned import MODEL, model_vector, probability
from flows.understanding.lexicon import NEGATORS
from flows.understanding.prefilter import Prefilter


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    topic: Topic | None
    negative: bool  # False: the words only name a theme
    negatable: bool  # True: a negator just before cancels it


def _r(pattern: str, topic: Topic | None, *, negative: bool = True, negatable: bool = False) -> _Rule:
    return _Rule(re.compile(pattern), topic, negative, negatable)


# Things that are not a missing parcel even after "non ho ricevuto".
_NOT_PARCEL = (
    r"(?!\s+(?:\w+\s+)?(?:(?:il|la|lo|i|le|alcun[ao]?|nessun[ao]?|una?|the|a|any|my|an)\s+)?"
    r"(?:rimbors|risposta|rispost|e-?mail|mail|notizi|aggiornament|conferma|fattura|codice|sms|chiamat"
    r"|refund|reply|answer|response|email|update|confirmation|invoice|call|news|money|soldi))"
)
_NOT_RECEIPT_AFTER = r"(?!\s+(?:in ritardo|tardi|in tempo|rott|danneggiat|in anticipo|male|bene|integr))"
_RECEIVE = r"(?:arrivat\w*|ricevut\w*|pervenut\w*|recapitat\w*|consegnat\w*|giunt\w*)"
_RECEIVE_EN = (
    r"(?:arrived|arrive|received|receive|got|get|gotten|come|came|delivered|shown up|turned up|show up)"
)

_RULES: tuple[_Rule, ...] = (
    # --- not received
    _r(r"\bmai " + _RECEIVE, Topic.NOT_RECEIVED),
    _r(
        r"\bnon\b(?:\s+[\w']+){0,3}?\s+" + _RECEIVE + r"\b" + _NOT_PARCEL + _NOT_RECEIPT_AFTER,
        Topic.NOT_RECEIVED,
    ),
    _r(
        r"(?:\bnever|\bnot|n't|\byet to)\b(?:\s+[\w']+){0,2}?\s+"
        + _RECEIVE_EN
        + r"\b"
        + _NOT_PARCEL
        + _NOT_RECEIPT_AFTER,
        Topic.NOT_RECEIVED,
    ),
    _r(r"\b(?:ancora|still) (?:niente|nulla|nothing)\b", Topic.NOT_RECEIVED),
    _r(
        r"\b(?:risulta|segna|dice|dato per|indicato come|segnato come|marked as|says|shows(?: as)?|shown as"
        r"|status says) (?:gia )?(?:consegnat\w*|delivered)",
        Topic.NOT_RECEIVED,
    ),
    _r(
        r"\bdov'? ?e (?:finito )?(?:il )?(?:mio )?(?:pacco|ordine)|\bdove (?:e"
        r"|sta) (?:il )?(?:mio )?(?:pacco|ordine)"
        r"|\bwhere(?: is|'s) my (?:parcel|package|order|stuff)",
        Topic.NOT_RECEIVED,
    ),
    _r(
        r"\b(?:pacco|ordine|spedizione) (?:e )?(?:stat[oa] )?(?:pers[oa]|smarrit\w*)|\bsmarrit\w*"
        r"|\b(?:lost|missing) (?:parcel|package|order|shipment)|\b(?:parcel|package|order) (?:was |is "
        r"|got )?lost",
        Topic.NOT_RECEIVED,
    ),
    _r(
        r"\bnothing (?:here|arrived|came)|\bnot here yet|\bnowhere to be (?:found|seen)|\bnon c'e traccia"
        r"|\bnessuna traccia|\bancora (?:da ricevere|in attesa del pacco|aspetto il pacco)"
        r"|\bstill waiting for (?:my|the) (?:parcel|package|order|delivery|item)",
        Topic.NOT_RECEIVED,
    ),
    # --- late delivery
    _r(
        r"\britard\w*|\bdelay\w*|\blate\b|\btardi\b|\blatest?\b(?= delivery)",
        Topic.LATE_DELIVERY,
        negatable=True,
    ),
    _r(
        r"\btook (?:forever|ages|too long|so long|a long time|(?:over |more than )?(?:a|one|two|three"
        r"|four|\d+) weeks?)"
        r"|\bci (?:ha|hanno) messo (?:una vita|troppo|un'eternita|(?:\d+|due|tre|quattro) (?:giorni"
        r"|settimane))"
        r"|\b(?:waited|aspettato|atteso) (?:\w+ )?(?:\d+|due|tre|quattro|cinque|two|three|four|five|una|a)"
        r" (?:giorni|settimane|mesi|days|weeks|months|settimana|week|month)"
        r"|\b(?:dopo|after) (?:\d+|due|tre|quattro|two|three|four) (?:settimane|weeks)"
        r"|\b(?:consegna|spedizione|delivery|shipping)\b(?:\s+\w+){0,3}\s+(?:lent\w*|slow\w*)\b"
        r"|\b(?:lent\w*|slow) (?:consegna|spedizione|delivery|shipping)",
        Topic.LATE_DELIVERY,
    ),
    # --- damaged (or a product that broke later: quality)
    _r(
        r"\b(?:si (?:e|sono) (?:gia )?rott\w*|si rompe\w*|broke (?:after|within|in|down|the)|broke\b"
        r"|stopped working"
        r"|(?:ha|hanno) smesso di funzionare|non funzion\w*|doesn't work|does not work|not working"
        r"|didn't work"
        r"|don't work|won't (?:turn on|work|charge)|non si accende|difettos\w*|defective|faulty|scadent\w*"
        r"|poor quality|low quality|bassa qualita|qualita (?:pessima|scarsa|bassa|scadente)"
        r"|cheap(?:ly)? (?:made|plastic|material)"
        r"|flimsy|fell apart|falls apart|si (?:e )?(?:scucit|smontat|stacca|staccat|rovinat)\w*"
        r"|scolorit\w*|stinge"
        r"|contraffatt\w*|\bfake\b|counterfeit)",
        Topic.PRODUCT_QUALITY,
    ),
    _r(
        r"\b(?:rott[oaie]|danneggiat\w*|distrutt\w*|ammaccat\w*|schiacciat\w*|bagnat\w*|graffiat\w*|crepat\w*"
        r"|scheggiat\w*|sfondat\w*|strappat\w*|manomess\w*|broken|damaged|crushed|dented|cracked|smashed"
        r"|scratched|torn|soaked|leak\w*|shattered|ripped|tampered|squashed|a pezzi|in pieces)\b",
        Topic.DAMAGED,
        negatable=True,
    ),
    _r(
        r"\b(?:pacc\w*|scatol\w*|confezion\w*|box|package|parcel)\b(?:\s+\w+){0,2}?\s+(?:aperto|aperta|aperti"
        r"|already opened|opened|was open)\b",
        Topic.DAMAGED,
        negatable=True,
    ),
    # --- wrong item
    _r(r"\bsbagliat\w*|\bwrong\b(?! with)", Topic.WRONG_ITEM, negatable=True),
    _r(
        r"\bnon (?:e|era) (?:quello|quanto|cio) che (?:ho |avevo |abbiamo )?(?:ordinat|comprat|chiest)\w*"
        r"|\bnot what i (?:ordered|bought|asked for|paid for)|\bdivers[oa] da (?:quello|quanto|cio)"
        r"|\bdifferent (?:from|than) (?:what|the one)|\b(?:manca|mancava|mancano|mancavano) (?:un|il|la"
        r"|dei|delle|l'|uno|una|i|le|\w+ pezz)"
        r"|\bmissing (?:item|part|piece|a |an |one|the |pieces|parts|items)|\bincomplet\w*|\bmancant\w*"
        r"|\b(?:colore|taglia|misura|modello|size|colour|color|model) (?:divers\w*|different)|\bscambiat\w*"
        r"|\bnot the (?:one|right|item|colour|color|size|model)",
        Topic.WRONG_ITEM,
    ),
    # --- staff
    _r(
        r"\b(?:maleducat\w*|scortes\w*|sgarbat\w*|arrogant\w*|antipatic\w*|villan\w*|offensiv\w*|aggressiv\w*"
        r"|incompetent\w*|rude\w*|impolite|unfriendly|disrespectful|condescending|hung up|yelled|shouted"
        r"|insulted|riattaccat\w*|trattat\w* (?:male|malissimo|da schifo)|treated (?:me )?(?:badly"
        r"|poorly|like)"
        r"|urlat\w*|insultat\w*|unprofessional|poco professional\w*|maleducazione|unhelpful|mi ha attaccato"
        r"|attaccato (?:il telefono|in faccia)|sbuffat\w*|indifferent\w*|dismissive)\b",
        Topic.STAFF,
        negatable=True,
    ),
    # --- support
    _r(
        r"\bnessuno (?:mi )?(?:rispond\w*|ha rispost\w*|richiam\w*|si fa sentire|mi ha (?:rispost"
        r"|richiamat|ricontattat)\w*)"
        r"|\bnon (?:mi )?(?:hanno |ha |avete )?(?:ancora |mai )?(?:rispost\w*|rispondono|risponde"
        r"|richiamat\w*|ricontattat\w*)\b"
        r"|\b(?:nobody|no one|noone|no-one) (?:answers|answered|replies|replied|called back|got back"
        r"|responds|responded|picks up|helped)"
        r"|\bno (?:reply|response|answer) (?:from|yet|to)|\bnever (?:got back|replied|answered"
        r"|called back|heard back|responded)"
        r"|\b(?:didn't|did not|don't|doesn't|won't) (?:reply|answer|respond|call back|get back|pick up)"
        r"|\bho dovuto (?:chiamare|scrivere|contattar\w*|sollecitar\w*|insistere|richiamare)"
        r"|\bhad to (?:call|chase|write|contact|email|ring|insist|keep calling)"
        r"|\b(?:called|chiamato|scritto|written|emailed|contacted|contattat\w*) (?:\w+ )?(?:\d+|due|tre"
        r"|quattro|cinque|two|three|four|five|several|many|diverse|mille|tante|molte) (?:times|volte)"
        r"|\b(?:\d+|due|tre|quattro|cinque) (?:chiamate|telefonate|solleciti|mail|email)"
        r"|\battesa infinita|\bon hold for|\bin attesa da (?:ore|giorni)|\bno help\b|\bnessun aiuto"
        r"|\brisposta (?:automatica|standard|copia)|\bcanned (?:response|answer)"
        r"|\bpassat\w* da un operatore all'altro"
        r"|\bpassed (?:around|from one)",
        Topic.SUPPORT,
    ),
    # --- unresolved
    _r(
        r"\bnon\b(?:\s+[\w']+){0,3}?\s+(?:risolt\w*|sistemat\w*|aggiustat\w*|riparat\w*)"
        r"|\birrisolt\w*|(?:\bnot|n't|\bnever)(?: been| yet| really| actually| even)* (?:resolved|fixed"
        r"|solved|sorted|addressed)"
        r"|\bunresolved|\bproblema (?:c'e|e) ancora|\bc'e ancora (?:il|lo stesso)|\b(?:persiste|persistono)\b"
        r"|\bstill (?:broken|an issue|a problem|happening|the same|not working|doesn't work"
        r"|isn't working|unresolved|open)"
        r"|\bstill (?:have|having|got) (?:the|this|that|same|my) (?:problem|issue)"
        r"|\bnothing (?:was|has been|got) (?:done|fixed|solved)|\bnon (?:hanno|ha|avete) (?:fatto"
        r"|risolto) (?:niente|nulla)"
        r"|\bticket (?:chius\w*|closed) (?:ma|but|senza|without)|\bchius\w* senza"
        r"|\bclosed (?:\w+ ){0,2}without"
        r"|\bsame (?:problem|issue) (?:again|still)|\bancora (?:lo stesso|il) problema|\bancora non funziona"
        r"|\bnon (?:e|e stato) ancora (?:risolto|sistemato)|\bissue persists|\bproblem persists"
        r"|\b(?:il problema|my (?:issue|problem)|the (?:issue|problem)) (?:c'e|is) still",
        Topic.UNRESOLVED,
    ),
    # --- refund (negative only with a cue, see _refund_negative)
    _r(
        r"\b(?:rimbors\w*|refund\w*|reimburs\w*|soldi indietro|money back|riaccredit\w*|chargeback|storno)",
        Topic.REFUND,
        negative=False,
    ),
    # --- legal, safety
    _r(
        r"\b(?:avvocat\w*|denunc\w*|querel\w*|carabinieri|polizia|codacons|altroconsumo|agcm"
        r"|class action|lawyer"
        r"|attorney|sue|suing|lawsuit|legal action|small claims|trading standards|consumer protection"
        r"|tribunale"
        r"|diffida|ombudsman|court|vie legali|azione legale|police)\b",
        Topic.LEGAL,
    ),
    _r(
        r"\b(?:preso fuoco|fuoco|fiamm\w*|bruciat\w*|scottat\w*|surriscald\w*|scossa|scintill\w*|pericolos\w*"
        r"|ferit\w*|mi sono tagliat\w*|esplos\w*|esplod\w*|tossic\w*|soffoc\w*|caught fire|on fire|fire"
        r"|burn\w*"
        r"|overheat\w*|electric shock|shocked me|sparks?|sparking|dangerous|hazard\w*|injur\w*"
        r"|hurt (?:me|my|myself)"
        r"|cut (?:my|myself)|explod\w*|toxic|choking|allergic reaction|reazione allergica)\b",
        Topic.SAFETY,
        negatable=True,
    ),
    # --- communication
    _r(
        r"\b(?:nessun[oa]?|non)\b(?:\s+\w+){0,2}?\s+(?:avvisat\w*|informat\w*|comunicat\w*|aggiornat\w*"
        r"|avvertit\w*)"
        r"|\bnessun[oa]? (?:aggiornament\w*|notizi\w*|avviso|comunicazion\w*|e-?mail|mail|informazion\w*)"
        r"|\b(?:tracking|tracciament\w*|traccia\w*) (?:non|fermo|ferma|mai|bloccat\w*|inutil\w*)"
        r"|\bnon si aggiorna"
        r"|\b(?:no|zero|without(?: any)?) (?:updates?|news|notice|notification|information|tracking"
        r"|warning|heads up)"
        r"|\bnever (?:told|informed|notified|updated)|\b(?:didn't|did not|nobody|no one) (?:tell|told"
        r"|inform|informed|notify|notified|update|updated)"
        r"|\btracking (?:number )?(?:doesn't|didn't|not|never|isn't|wasn't|stuck|hasn't)"
        r"|\b(?:hasn't|has not|haven't|have not)(?: been)? updated|\bwithout (?:telling|notice|warning"
        r"|informing|any info)"
        r"|\bsenza (?:avvisar\w*|preavviso|avviso|dire niente|comunicar\w*|informar\w*)|\bnon (?:ci"
        r"|mi) (?:hanno|ha) (?:detto|scritto)",
        Topic.COMMUNICATION,
    ),
    # --- price
    _r(
        r"\btroppo (?:car\w*|alt[oi]|costos\w*)|\bprezz\w* (?:troppo |molto )?(?:alt[oi]|esagerat\w*"
        r"|eccessiv\w*|folli)"
        r"|\bcosta(?:no|va)? troppo|\btoo (?:expensive|pricey|much money|costly)|\boverpriced|\brip-? ?off"
        r"|\bspese di spedizione (?:troppo |esagerat\w*|car\w*|alt\w*)|\bshipping (?:cost|fee)s? (?:too"
        r"|were too|are too|way)"
        r"|\ba furto\b|\bexpensive\b|\bcostos\w*",
        Topic.PRICE,
        negatable=True,
    ),
    # --- website, app, payment
    _r(
        r"\b(?:si blocca\w*|bloccat\w*|crash\w*|bug\w*|errore|error\w*|non (?:mi )?(?:fa(?: fare)?"
        r"|permette|carica|va)\b"
        r"|doesn't load|won't load|won't let|can't (?:log|pay|checkout|check out|complete|sign)"
        r"|couldn't (?:pay|log|checkout|check out)"
        r"|non riesco a (?:pagar|accedere|entrar|completar|ordinar|fare il login)\w*|declined|rifiutat\w*"
        r"|addebitat\w* due volte|charged twice|double charged|doppio addebito)",
        Topic.WEBSITE,
    ),
)

# Theme words that name a topic without saying anything bad about it.
_MENTIONS: tuple[tuple[re.Pattern[str], Topic], ...] = (
    (
        re.compile(
            r"\b(?:corrier\w*|consegn\w*|spedizion\w*|spedit\w*|pacc\w*|fattorin\w*|imballaggi\w*|brt"
            r"|gls|dhl|sda"
            r"|ups|poste|courier|deliver\w*|shipping|shipped|shipment|parcel|package|driver|postman"
            r"|packaging)\b"
        ),
        Topic.DELIVERY,
    ),
    (
        re.compile(
            r"\b(?:assistenza|servizio clienti|customer (?:service|care|support)|support|helpdesk|help desk"
            r"|call center|operator\w*|agent[ei]?|centralino)\b"
        ),
        Topic.SUPPORT,
    ),
    (
        re.compile(
            r"\b(?:sito|app|applicazione|checkout|pagament\w*|carrello|login|website|site|payment|cart)\b"
        ),
        Topic.WEBSITE,
    ),
    (
        re.compile(
            r"\b(?:prezz\w*|price\w*|pricey|costo|costi|spese di spedizione|shipping cost\w*|sconto"
            r"|discount)\b"
        ),
        Topic.PRICE,
    ),
    (re.compile(r"\b(?:qualita|materiale|quality|material)\b"), Topic.PRODUCT_QUALITY),
    (re.compile(r"\b(?:tracking|aggiornament\w*|updates?|notific\w*|newsletter)\b"), Topic.COMMUNICATION),
)

# Polarity words: negative unless negated right before, in the same clause.
_POLARITY = re.compile(
    r"\b(?:pessim\w*|terribil\w*|orribil\w*|schif\w*|vergogn\w*|delus\w*|deludent\w*|delusione"
    r"|insoddisfatt\w*"
    r"|scandalos\w*|inaccettabil\w*|inammissibil\w*|assurd\w*|ridicol\w*|indecent\w*|disastr\w*|penos\w*"
    r"|scars[oaie]|male|malissimo|problem\w*|reclam\w*|lamentel\w*|truff\w*|ladri|incazzat\w*|arrabbiat\w*"
    r"|furios\w*|infuriat\w*|sconsiglio|evitate|da evitare|spreco|inutil\w*|peggior\w*|lament\w*|mediocre"
    r"|terrible|awful|horrible|horrendous|worst|bad|badly|poor|poorly|disappoint\w*|dissatisf\w*|unhappy"
    r"|unacceptable|ridiculous|disgrace\w*|disgust\w*|useless|rubbish|garbage|trash|crap\w*|shit\w*|scam\w*"
    r"|fraud\w*|thieves|furious|angry|annoy\w*|frustrat\w*|complain\w*|pathetic|appalling|shocking|dreadful"
    r"|slow|lent[oaie]|lentissim\w*|sucks?|hate|odio|nightmare|incubo|fastidi\w*|seccat\w*|stufo|stufa"
    r"|wasted?|upset)\b"
)
# Phrases that are negative as a whole (their negation is part of the phrase).
_NEGATIVE_PHRASES = re.compile(
    r"\bmai piu\b|\bnever again\b|\bnon (?:vi |lo |la )?consiglio\b|\bnon (?:sono|siamo"
    r"|ero)\b(?:\s+\w+){0,2}?\s+(?:soddisfatt|content|felic|content)\w*"
    r"|\bnon (?:mi )?(?:e|sono|e stato|e stata) piaciut\w*|\bnon mi piace\w*|\bnon va bene\b|\bnon ci siamo\b"
    r"|\bnon (?:e|era|e stato|e stata) (?:per niente |affatto )?(?:buon\w*|bell\w*|ok|accettabil\w*"
    r"|all'altezza)"
    r"|\bnot (?:very |really |at all |so |too )?(?:happy|satisfied|pleased|impressed|good|great"
    r"|acceptable|ok|okay)\b"
    r"|\b(?:didn't|don't|do not|did not) (?:like|recommend|enjoy)|\b(?:wouldn't|would not|won't"
    r"|will not) (?:recommend|buy|order)"
    r"|\bwaste of\b|\b(?:sto|stiamo) ancora aspettando|\baspetto ancora|\bancora aspetto|\bstill waiting\b"
    r"|\bche delusione|\bnon (?:lo |la )?ricomprer\w*|\bnon (?:ordinero|comprero) piu"
    r"|\b(?:non|not) (?:e|was|is|it's|its) (?:stato |stata |been )?(?:facile|easy)"
    r"|\b(?:ho|abbiamo) (?:dovuto|perso) (?:aspettare|tempo)|\blost (?:my )?(?:time|money)|\bho perso\b"
)
# Lukewarm openers: negative only with a grievance after them.
_LUKEWARM = re.compile(
    r"\b(?:poteva andare meglio|potrebbe andare meglio|poteva(?:no)? essere meglio|could have been better"
    r"|could be better|so-? ?so|cosi cosi|insomma|meh|nothing special|niente di speciale|non granche"
    r"|not great|nella media|average)\b"
)
# Markers of a complaint within a mixed comment: negative when followed by words.
_CONTRAST = re.compile(
    r"\b(?:peccato(?: che| per| solo)?|purtroppo|unfortunately|sadly|unica pecca|unico neo|unico difetto"
    r"|only (?:complaint|issue|problem|downside|thing)|shame (?:that|about)|pity (?:that|about)|what a shame"
    r"|tranne (?:che|il|la|per)|except (?:that|for|the))\b"
)
# Asking for a person is a reason to hand over whatever the words.
_HUMAN_REQUEST = re.compile(
    r"\b(?:voglio|vorrei|posso|potrei|fatemi|fammi|mi fate|mi serve"
    r"|ho bisogno di) (?:\w+ ){0,3}(?:parlare|un operatore"
    r"|una persona|un umano|essere richiamat\w*|chiamare)|\b(?:chiamatemi|richiamatemi|contattatemi)"
    r"|\b(?:talk|speak|chat) (?:to|with) (?:a |an |some|a real |your )?(?:person|human|agent|operator|someone"
    r"|somebody|manager|representative|real)|\b(?:call|ring|contact) me\b"
)
_REFUND_CUE = re.compile(
    r"\b(?:non|not|never|no|nessun\w*|still|ancora|aspett\w*|waiting|wait|await\w*|chiest\w*"
    r"|richiest\w*|asked"
    r"|requested|want|voglio|rivoglio|pretend\w*|where|dov'? ?e|mai|yet|twice|due volte|n't"
    r"|sollecit\w*)\b|n't\b"
)
_CLAUSE_BREAK = re.compile(r"[,.;:!?()\n]|\b(?:ma|but|pero|however)\b")
_WORD = re.compile(r"[\w']+")


def _negated(text: str, start: int) -> bool:
    """Return True when one of the four words before ``start`` (same clause) is a negator."""
    window = text[max(0, start - 40) : start]
    breaks = list(_CLAUSE_BREAK.finditer(window))
    if breaks:
        window = window[breaks[-1].end() :]
    words = _WORD.findall(window)[-4:]
    return any(w in NEGATORS or w.endswith("n't") for w in words)


def _content_words(text: str) -> int:
    """Return how many words of three letters or more ``text`` holds."""
    return sum(1 for w in _WORD.findall(text) if len(w) >= 3)


def _refund_negative(text: str) -> bool:
    """Return True when a refund is mentioned as missing or asked for, not as done."""
    return _REFUND_CUE.search(text) is not None


# Every pattern _scan runs, in its order; the prefilter skips those that cannot match a text.
_SCANNED: tuple[re.Pattern[str], ...] = (
    *(rule.pattern for rule in _RULES),
    _POLARITY,
    _NEGATIVE_PHRASES,
    _HUMAN_REQUEST,
    _LUKEWARM,
    _CONTRAST,
    *(mention for mention, _ in _MENTIONS),
)
_PREFILTER = Prefilter.of(_SCANNED)


def _scan(text: str) -> tuple[list[str], list[Topic]]:
    """Return (the triggers that call ``text`` negative, topics in order of appearance) of folded text.

    A trigger names what fired: ``rule:<topic>`` for a complaint pattern, ``polarity``, ``phrase``,
    ``human_request``, ``lukewarm``, ``contrast``. No trigger means the rules see nothing negative.
    """
    possible = iter(_PREFILTER.possible(text))
    triggers: list[str] = []
    found: list[tuple[int, Topic]] = []
    for rule, may_match in zip(_RULES, possible, strict=False):
        if not may_match:
            continue
        for match in rule.pattern.finditer(text):
            if rule.negatable and _negated(text, match.start()):
                continue
            if rule.topic is Topic.REFUND:
                if _refund_negative(text):
                    triggers.append("rule:refund")
            elif rule.negative:
                triggers.append(f"rule:{rule.topic.value if rule.topic else 'other'}")
            if rule.topic is not None:
                found.append((match.start(), rule.topic))
            break
    if next(possible):
        for match in _POLARITY.finditer(text):
            if not _negated(text, match.start()) and not _problem_solved(text, match):
                triggers.append("polarity")
                break
    if next(possible) and _NEGATIVE_PHRASES.search(text):
        triggers.append("phrase")
    if next(possible) and _HUMAN_REQUEST.search(text):
        triggers.append("human_request")
    for name, pattern in (("lukewarm", _LUKEWARM), ("contrast", _CONTRAST)):
        hit = pattern.search(text) if next(possible) else None
        if hit and _content_words(text[: hit.start()] + " " + text[hit.end() :]) >= 2:
            triggers.append(name)
    for (mention, topic), may_match in zip(_MENTIONS, possible, strict=True):
        named = mention.search(text) if may_match else None
        if named:
            found.append((named.start(), topic))
    return triggers, [topic for _, topic in sorted(found, key=lambda item: item[0])]


def _problem_solved(text: str, match: re.Match[str]) -> bool:
    """Return True for "problema risolto" / "problem solved": a problem word that is not a complaint."""
    if not match.group().startswith("problem"):
        return False
    return re.search(
        r"\b(?:risolt\w*|solved|resolved|fixed|sistemat\w*)\b", text
    ) is not None and not re.search(
        r"(?:\bnon|\bnot|n't|\bnever)\b[\w' ]{0,20}(?:risolt|solved|resolved|fixed|sistemat)", text
    )


def _dedupe(topics: list[Topic]) -> tuple[Topic, ...]:
    """Return ``topics`` without repeats; the generic delivery theme goes when a specific one is there."""
    unique = tuple(dict.fromkeys(topics))
    if Topic.DELIVERY in unique and ({Topic.NOT_RECEIVED, Topic.LATE_DELIVERY} & set(unique)):
        unique = tuple(t for t in unique if t is not Topic.DELIVERY)
    return unique


# Said about a delivery, these mean the parcel is not there (a P1), though no word says "delivered".
_NOT_THERE_AFTER_DELIVERY = re.compile(
    r"\b(?:non c'?e(?:ra)? (?:niente|nulla|nessun\w*)|non (?:l'?ho|ho) (?:vist\w*|trovat\w*) (?:niente|nulla"
    r"|nessun\w*)|non (?:ho|abbiamo) (?:trovato|visto) (?:il|nessun) pacc\w*|nessun pacco|niente pacco"
    r"|dov'? ?e\b|scatola vuota|pacco vuoto|nothing (?:was )?there|nothing at (?:the|my) door"
    r"|no (?:parcel|package|box)\b|not (?:there|here)\b|wasn'?t there|isn'?t (?:there|here)|empty box"
    r"|never (?:got|saw) (?:it|a|the|any)|where (?:is|'s) (?:it|my)|not at (?:the|my) door)"
)
#: The stage ids at which a parcel has been declared delivered (the shipped journey's id).
DELIVERED_STAGES = frozenset({"delivered"})


@dataclass(frozen=True, slots=True)
class RuleReading:
    """What the hand-written rules read in a comment."""

    triggers: tuple[str, ...]  # what called it negative; empty: nothing negative seen
    topics: tuple[Topic, ...]


def read_rules(folded: str, stage: str | None = None) -> RuleReading:
    """Return the rules' triggers and topics for a folded comment, given the stage it answers."""
    triggers, topics = _scan(folded)
    if stage in DELIVERED_STAGES and _NOT_THERE_AFTER_DELIVERY.search(folded):
        triggers.append("stage:delivered_not_there")
        topics.insert(0, Topic.NOT_RECEIVED)
    return RuleReading(tuple(dict.fromkeys(triggers)), _dedupe(topics))


@dataclass(frozen=True, slots=True)
class CommentVerdict:
    """Whether a comment needs a human, and why: the model's probability and the rule that fired."""

    negative: bool
    topics: tuple[Topic, ...]
    probability: float  # the learned model's probability that a human should read it
    threshold: float  # the model's threshold for the language (chosen on the training corpora)
    rule: str | None  # the precise rule trigger that decided alone, if any
    triggers: tuple[str, ...]  # every rule trigger that fired, precise or not
    vector: dict[str, float]  # the model's features of this text (only when asked to explain)


def verdict(text: str, lang: Lang, stage: str | None = None, *, explain: bool = False) -> CommentVerdict:
    """Return the full reading of a comment: see ``analyse_comment``; ``explain`` also keeps the vector."""
    threshold = MODEL.threshold(lang.value)
    folded = comment_text(text)
    if not folded.strip():
        return CommentVerdict(False, (), 0.0, threshold, None, (), {})
    rules = read_rules(folded, stage)
    topic_names = tuple(t.value for t in rules.topics)
    vec = model_vector(folded, bool(rules.triggers), topic_names) if explain else {}
    prob = probability(folded, bool(rules.triggers), topic_names)
    precise = next((t for t in rules.triggers if t in MODEL.precise_triggers), None)
    negative = prob >= threshold or precise is not None
    return CommentVerdict(negative, rules.topics, prob, threshold, precise, rules.triggers, vec)


def analyse_comment(text: str, lang: Lang, stage: str | None = None) -> tuple[bool, tuple[Topic, ...]]:
    """Return ``(negative, topics)`` of free text: does it need a human, and which themes it names.

    Negative when the learned model's probability reaches the language's threshold or a precise
    rule fires (see ``verdict``). Both languages' lexicons and one model apply to every text, since
    customers mix them; ``lang`` picks the threshold. ``stage`` (the stage id the comment
    answers, None when unknown) lets "nothing was there" after a delivery count as not received.
    """
    result = verdict(text, lang, stage)
    return result.negative, result.topics
