"""The bot's words around a human hand-off and the closing question (it/en), and their buttons."""

from __future__ import annotations

from flows.conversation.actions import Choice
from flows.journey import Texts
from flows.scales import Lang

HUMAN = "human"  # button value: talk to a person
SOLVED_YES = "solved:yes"
SOLVED_NO = "solved:no"

HUMAN_LABEL = Texts(it="🙋 Parla con una persona", en="🙋 Talk to a person")
HUMAN_REQUESTED = Texts(
    it="Ho passato la tua richiesta al nostro team: una persona ti risponderà qui appena possibile.",
    en="I've passed your request to our team: a person will answer you here as soon as possible.",
)
HUMAN_ADDED = Texts(
    it=(
        "La tua segnalazione è già aperta: ho avvisato il team che vuoi parlare con una persona, "
        "che ti risponderà qui appena possibile."
    ),
    en=(
        "Your case is already open: I've told our team you'd like to talk to a person, "
        "who will answer you here as soon as possible."
    ),
)
CASE_UPDATED = Texts(
    it="Grazie, l'ho aggiunto alla tua segnalazione: chi la segue lo vedrà subito.",
    en="Thank you, I've added this to your case: whoever is looking after it will see it straight away.",
)
MEDIA_ADDED = Texts(
    it="Grazie, l'ho allegato alla tua segnalazione: chi la segue lo vedrà subito.",
    en="Thank you, I've attached it to your case: whoever is looking after it will see it straight away.",
)
#: How an attachment is noted among the case's texts (``MEDIA_MARK`` + its kind, e.g. "photo"):
#: the card shows it in the desk language, never as the customer's words.
MEDIA_MARK = "📎:"
ALREADY_WITH_AGENT = Texts(
    it="Una persona del nostro team sta già seguendo la tua richiesta: scrivi pure qui.",
    en="Someone from our team is already looking after your request: just write here.",
)
TAKEN = Texts(
    it="Una persona del team di {brand} sta guardando la tua segnalazione. Puoi scriverle qui.",
    en="Someone from the {brand} team is looking at your feedback. You can write to them here.",
)
HANDED_BACK = Texts(
    it="Grazie per la pazienza! Se ti serve ancora aiuto, scrivi pure qui.",
    en="Thanks for your patience! If you still need help, just write here.",
)
RESOLVED = Texts(
    it="Abbiamo chiuso la tua segnalazione. Abbiamo risolto il problema?",
    en="We've closed your case. Did we solve the problem?",
)
YES_LABEL = Texts(it="👍 Sì", en="👍 Yes")
NO_LABEL = Texts(it="👎 No", en="👎 No")
SOLVED_THANKS = Texts(
    it="Ottimo, grazie per avercelo detto!",
    en="Great, thanks for letting us know!",
)
NOT_SOLVED = Texts(
    it="Ci dispiace. Abbiamo riaperto la tua segnalazione: una persona ti ricontatterà qui.",
    en="We're sorry. We've reopened your case: someone will get back to you here.",
)


def human_rows(lang: Lang) -> tuple[tuple[Choice, ...], ...]:
    """Return the one-button row "talk to a person"."""
    return ((Choice(label=HUMAN_LABEL(lang), value=HUMAN),),)


def solved_rows(lang: Lang) -> tuple[tuple[Choice, ...], ...]:
    """Return the Yes/No row of the closing question."""
    return ((Choice(label=YES_LABEL(lang), value=SOLVED_YES), Choice(label=NO_LABEL(lang), value=SOLVED_NO)),)
