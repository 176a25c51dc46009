"""Every customer-facing Italian text is gender-neutral: the replaced forms never come back."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel

from bot.channels.telegram import texts as telegram_texts
from flows.conversation import handoff
from flows.journey import Journey, Texts, load_journey
from flows.scales import Lang

#: Forms that assume the customer is a man (or a woman), and unfinished phrases, we replaced.
#: Keep adding: a test fails as soon as one reappears in a shipped customer text.
FORBIDDEN = (
    r"\bbentornat[oaie]\b",
    r"\bbenvenut[oaie]\b",
    r"\bessere (stat|tornat)[oaie]\b",
    r"\bsei (stat|tornat|sicur|content|pront|soddisfatt|interessat)[oaie]\b",
    r"\btornat[oa] da noi\b",
    r"\b(caro|cara) client[ei]\b",
    r"\bun amico o a un collega\b",
    r"non sia andato\.",  # unfinished: "…che qualcosa non sia andato." (andato come?)
    r"\bgrazie di essere\b",
)


def _texts(node: object, where: str) -> Iterator[tuple[str, str]]:
    """Yield (where, Italian text) of every Texts inside a journey model."""
    if isinstance(node, Texts):
        yield where, node.it
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _texts(getattr(node, name), f"{where}.{name}")
    elif isinstance(node, tuple | list):
        for index, item in enumerate(node):
            yield from _texts(item, f"{where}[{index}]")


def customer_italian(journey: Journey) -> list[tuple[str, str]]:
    """Return every customer-facing Italian string: the journey's texts and the bot's own words."""
    found = list(_texts(journey, "journey"))
    for name in dir(handoff):
        value = getattr(handoff, name)
        if isinstance(value, Texts):
            found.append((f"handoff.{name}", value.it))
    for key, by_lang in telegram_texts._TEXTS.items():
        found.append((f"telegram.{key}", by_lang[Lang.IT]))
    found += [(f"telegram.command.{c}", label) for c, label in telegram_texts.COMMANDS[Lang.IT]]
    return found


def test_the_list_covers_the_journey_and_the_bot() -> None:
    """The check reads the stage questions, reason chips, messages and hand-off texts."""
    places = [where for where, _ in customer_italian(load_journey(None))]
    assert any(".question" in p for p in places) and any(".reasons." in p for p in places)
    assert any(p.startswith("handoff.") for p in places) and any(p.startswith("telegram.") for p in places)
    assert len(places) > 80


def test_no_gendered_or_unfinished_italian() -> None:
    """No shipped customer text uses a masculine/feminine form or an unfinished phrase we replaced."""
    offenders = [
        (where, text)
        for where, text in customer_italian(load_journey(None))
        for pattern in FORBIDDEN
        if re.search(pattern, text, flags=re.IGNORECASE)
    ]
    assert offenders == []


def test_the_guard_catches_the_old_texts() -> None:
    """The forbidden list matches the texts customers used to receive."""
    old = [
        "Bentornato! Riceverai di nuovo le nostre brevi domande.",
        "Grazie di essere tornato da noi!",
        "Grazie di essere stato con noi.",
        "ci dispiace che qualcosa non sia andato. Una persona",
    ]
    assert all(any(re.search(p, text, flags=re.IGNORECASE) for p in FORBIDDEN) for text in old)
