"""Italian read by customers, agents and managers never assumes the reader's (or the customer's) gender.

The scan reads every Italian text of the shipped journey (YAML) and every string literal of the
modules that hold words a person reads (customer messages, the agents' card and notes, the weekly
summary, the deep-link e-mail, the unsubscribe page, the PTB example), and fails on gendered
agreements such as "sei soddisfatto", "benvenuto", "gentile cliente", "soddisfatto/a" or a singular
masculine "il cliente". Rephrase ("ti è piaciuto…", "ti diamo il benvenuto", "Ciao!") rather than
extend the allow-list; the allow-list is for words about a score or a thing, not a person.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
JOURNEY = ROOT / "flows" / "journeys" / "default.yaml"

#: Modules whose string literals are words a customer, an agent or a manager reads.
SOURCES = (
    "flows/journey.py",
    "flows/conversation/handoff.py",
    "flows/conversation/render.py",
    "flows/report_definitions.py",
    "bot/channels/telegram/texts.py",
    "bot/channels/telegram/undeliverable.py",
    "bot/escalations/card.py",
    "bot/escalations/audit.py",
    "bot/report/labels.py",
    "bot/connectors/deeplink_mail.py",
    "bot/connectors/chatwoot_out.py",
    "bot/connectors/routes.py",
    "examples/ptb_bot.py",
)

#: Gendered forms addressed to the reader or naming one customer or agent.
GENDERED = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # "sei soddisfatto", "ti sei iscritta", "sarai contento", "sei stato"…
        r"\b(?:sei|eri|sarai|saresti|fossi|resti|rimani|ti senti|ti sei)\s+(?:\w+\s+)?"
        r"(?:soddisfatt|insoddisfatt|content|scontent|sicur|pront|interessat|stat|tornat|arrivat|"
        r"andat|venut|iscritt|disiscritt|registrat|abbonat|preoccupat|delus|arrabbiat|stanc|convint)[oa]\b",
        r"(?<!\bha )(?<!\bhai )(?<!\bhanno )\b(?:soddisfatt|insoddisfatt)[oa]\b",  # not "ti ha soddisfatto"
        r"\b(?:content|scontent|sicur|pront)[oa]\b",
        r"(?<!\bil )\b(?:benvenut|bentornat)[oaie]\b",  # not "ti diamo il benvenuto"
        r"\b(?:car[oa]|gentile)\s+client[ei]\b",
        r"\b(?:il|al|del|dal|nel|sul|col|un|quel|questo)\s+cliente\b",  # one customer, as a man
        r"\boperator[ei]\b",  # the support agent, as a man ("operatore gentile")
        r"\bun agente\b",
        r"\b\w+[oi]/[aei]\b",  # "soddisfatto/a", "amici/e"
        r"\b\w+[oi]\([aei]\)",  # "pronto(a)"
        r"\b\w{2,}[ə@*](?=\s|[.,!?;:)]|$)",  # "benvenutə", "car*": not standard Italian either
    )
)

#: Words about a score or a thing, not a person: (fragment of the text, why it may stay).
ALLOWED = {
    "(3 non è soddisfatto)": "CSAT 3 is not a satisfied score (CX_METHOD §2), said of the score",
}


def _yaml_italian(node: object, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "it" and isinstance(value, str):
                yield where, value
            else:
                yield from _yaml_italian(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _yaml_italian(item, f"{where}[{index}]")


def _literals(relative: str) -> Iterator[tuple[str, str]]:
    tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield f"{relative}:{node.lineno}:{node.col_offset}", node.value


def read_texts() -> list[tuple[str, str]]:
    """Return (where, text) of every Italian journey text and every literal of the reader-facing modules."""
    found = list(_yaml_italian(yaml.safe_load(JOURNEY.read_text(encoding="utf-8")), "journey"))
    for relative in SOURCES:
        found += _literals(relative)
    return found


def offenders(texts: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Return (where, matched words, text) for each gendered form not on the allow-list."""
    found = []
    for where, text in texts:
        cleaned = text
        for fragment in ALLOWED:
            cleaned = cleaned.replace(fragment, "")
        for pattern in GENDERED:
            if match := pattern.search(cleaned):
                found.append((where, match.group(0), text))
    return found


def test_the_scan_reads_customer_agent_and_manager_texts() -> None:
    """The scan covers the journey's questions and chips, bot replies, the card, the report and the mail."""
    texts = dict(read_texts())
    journey = [w for w in texts if w.startswith("journey.")]
    assert any(".question" in w for w in journey) and any(".reasons" in w for w in journey)
    assert len(journey) > 90
    joined = "\n".join(texts.values())
    for expected in (
        "Parla con una persona",  # hand-off button
        "Prendo io",  # card button
        "Riepilogo settimanale",  # weekly summary
        "Disiscriviti qui",  # deep-link e-mail
        "Cancella i miei dati",  # privacy default in flows/journey.py
    ):
        assert expected in joined


def test_no_italian_text_assumes_a_gender() -> None:
    """No Italian text a customer, an agent or a manager reads uses a gendered form towards a person."""
    assert offenders(read_texts()) == []


def test_the_scan_catches_gendered_forms() -> None:
    """The patterns match the forms replaced in this review and the usual ones, and spare neutral phrasing."""
    gendered = [
        "Sei soddisfatto/a del tuo ordine?",
        "Sei stata molto gentile.",
        "Benvenuto nel negozio!",
        "Gentile cliente, ecco il tuo ordine.",
        "Il cliente dice: risolto ✅",
        "Rispondi a questo messaggio per scrivere al cliente.",
        "⚠️ Il cliente ha bloccato il bot.",
        "Operatore gentile",
        "tentativo rifiutato (non è un agente)",
        "Sei pront* a rispondere?",
        "Grazie, ci fa piacere che tu sia contenta!",
    ]
    neutral = [
        "Quanto ti ha soddisfatto la consegna?",
        "Ti diamo il benvenuto nel negozio!",
        "Che bello rivederti!",
        "Quanto sei d'accordo con la frase «Moka & Co mi ha reso facile fare l'ordine»?",
        "Problema risolto? Risposta: sì ✅",
        "Solo per esserne sicuri: su questa scala da 1 a 5, 1 è il voto peggiore.",
        "CSAT % = risposte 4–5 ÷ risposte × 100 (3 non è soddisfatto)",
    ]
    assert [t for t in gendered if not offenders([("old", t)])] == []
    assert offenders([("new", t) for t in neutral]) == []
