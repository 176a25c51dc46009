"""What the Telegram channel itself says (the conversation's texts live in the journey)."""

from __future__ import annotations

from flows.scales import Lang

_TEXTS: dict[str, dict[Lang, str]] = {
    "bad_link": {
        Lang.IT: (
            "Questo link non è valido o è scaduto, quindi non posso collegarlo al tuo ordine. "
            "Usa il link più recente che ti abbiamo inviato, oppure scrivici e ti aiuteremo."
        ),
        Lang.EN: (
            "This link isn't valid or has expired, so I can't connect it to your order. "
            "Please use the most recent link we sent you, or write to us and we'll help."
        ),
    },
    "linked_elsewhere": {
        Lang.IT: (
            "Questa chat è già collegata a un altro profilo cliente, quindi non posso usarla per "
            "questo link. Se vuoi cambiarla, scrivici e ti aiuteremo."
        ),
        Lang.EN: (
            "This chat is already linked to another customer profile, so I can't use it for this "
            "link. If you want to change that, write to us and we'll help."
        ),
    },
    "bad_button": {
        Lang.IT: "Questo pulsante non è valido.",
        Lang.EN: "This button isn't valid.",
    },
    "skipped": {
        Lang.IT: "Ok, domanda saltata.",
        Lang.EN: "OK, question skipped.",
    },
    "media": {
        Lang.IT: (
            "Grazie! Per ora capisco solo messaggi scritti e pulsanti, quindi non riesco a vedere foto, "
            "audio, video, sticker, posizioni o file. Puoi scrivermelo a parole?"
        ),
        Lang.EN: (
            "Thanks! For now I only understand text and buttons, so I can't see photos, voice notes, "
            "videos, stickers, locations or files. Could you put it in words?"
        ),
    },
    "stale_button": {
        Lang.IT: "Questa domanda è già chiusa.",
        Lang.EN: "That question is no longer open.",
    },
}

#: The command menu, per language (``setMyCommands``).
COMMANDS: dict[Lang, list[tuple[str, str]]] = {
    Lang.IT: [
        ("start", "Inizia"),
        ("aiuto", "Cosa posso fare"),
        ("lingua", "Cambia lingua"),
        ("stop", "Non ricevere più sondaggi"),
        ("privacy", "I tuoi dati"),
    ],
    Lang.EN: [
        ("start", "Start"),
        ("help", "What I can do"),
        ("language", "Change language"),
        ("stop", "Stop the surveys"),
        ("privacy", "Your data"),
    ],
}


def text(key: str, lang: Lang) -> str:
    """Return the channel text ``key`` in ``lang``."""
    return _TEXTS[key][lang]


def language_of(code: str | None) -> Lang | None:
    """Return the language of a Telegram ``language_code`` (``it*``/``en*``), or None."""
    code = (code or "").lower()
    if code.startswith("it"):
        return Lang.IT
    if code.startswith("en"):
        return Lang.EN
    return None
