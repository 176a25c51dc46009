"""What agents see: the escalation card (HTML, escaped, it/en) and its signed button data.

Channel-agnostic text; Telegram renders it with ``parse_mode=HTML``. Button data is
``e:<op>:<id>:<sig>`` (well under Telegram's 64 bytes), signed so a forged press is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from babel.dates import format_date, format_datetime

from flows.conversation.handoff import MEDIA_MARK
from storage.tables import Customer, Escalation, Response

OPS = {"t": "take", "r": "resolve", "h": "hand_back"}

_L: dict[str, dict[str, str]] = {
    "title": {"it": "Segnalazione", "en": "Escalation"},
    "customer": {"it": "Cliente", "en": "Customer"},
    "order": {"it": "Ordine", "en": "Order"},
    "stage": {"it": "Fase", "en": "Stage"},
    "topics": {"it": "Temi", "en": "Topics"},
    "words": {"it": "Le sue parole", "en": "Their words"},
    "history": {"it": "Risposte precedenti", "en": "Earlier answers"},
    "due": {"it": "Scadenza SLA", "en": "SLA due"},
    "open": {"it": "aperta", "en": "open"},
    "taken": {"it": "presa in carico da {who} · {at}", "en": "taken by {who} · {at}"},
    "resolved": {"it": "risolta da {who} · {at}", "en": "resolved by {who} · {at}"},
    "solved_yes": {"it": "Problema risolto? Risposta: sì ✅", "en": "The customer says: solved ✅"},
    "solved_no": {
        "it": "Problema risolto? Risposta: no ❌ (riaperta)",
        "en": "The customer says: not solved ❌ (reopened)",
    },
    "take": {"it": "✋ Prendo io", "en": "✋ Take"},
    "resolve": {"it": "✅ Risolta", "en": "✅ Resolve"},
    "hand_back": {"it": "↩️ Restituisci al bot", "en": "↩️ Hand back"},
    "reply_hint": {
        "it": "Rispondi a questo messaggio e la tua risposta arriverà direttamente in chat.",
        "en": "Reply to this message to write to the customer.",
    },
    "nearly_due": {
        "it": "⏰ Segnalazione #{id} ({prio}) quasi in scadenza: {due}. {mentions}",
        "en": "⏰ Escalation #{id} ({prio}) is nearly due: {due}. {mentions}",
    },
    "overdue_hours": {"it": "⏰ scaduta da {n} h", "en": "⏰ overdue by {n} h"},
    "overdue_days": {"it": "⏰ scaduta da {n} g", "en": "⏰ overdue by {n} d"},
    "human": {"it": "ha chiesto di parlare con una persona", "en": "asked to talk to a person"},
    "human_line": {"it": "🙋 Ha chiesto di parlare con una persona", "en": "🙋 Asked to talk to a person"},
    "news": {
        "it": "🔔 {who} novità sulla segnalazione #{id}: {what}",
        "en": "🔔 {who} news on escalation #{id}: {what}",
    },
    "news_topics": {"it": "temi {topics}", "en": "topics {topics}"},
    "media": {
        "it": "📎 Ha inviato: {what} (nelle risposte a questa scheda)",
        "en": "📎 Sent: {what} (in the replies to this card)",
    },
    "news_priority": {"it": "priorità alzata a {prio}", "en": "priority raised to {prio}"},
    "not_agent": {"it": "Solo il team di assistenza può farlo.", "en": "Only agents can do this."},
    "conflict_resolved": {
        "it": "La segnalazione #{id} è già risolta.",
        "en": "Escalation #{id} is already resolved.",
    },
    "conflict_taken": {
        "it": "La segnalazione #{id} è già in carico a {who}.",
        "en": "Escalation #{id} is already taken by {who}.",
    },
    "conflict_not_taken": {
        "it": "La segnalazione #{id} non è in carico a nessuno.",
        "en": "Nobody has taken escalation #{id}.",
    },
    "reply_too_long": {
        "it": "Risposta non inviata: deve avere da 1 a {limit} caratteri.",
        "en": "Reply not sent: it must be 1 to {limit} characters long.",
    },
    "lang_it": {"it": "italiano", "en": "Italian"},
    "lang_en": {"it": "inglese", "en": "English"},
    "reach_blocked": {
        "it": "⛔ Il bot è stato bloccato: i messaggi in chat non vengono più consegnati.",
        "en": "⛔ The customer blocked the bot: messages are no longer delivered.",
    },
    "reach_failed": {
        "it": "⚠️ L'ultimo messaggio in chat non è stato consegnato.",
        "en": "⚠️ The last message to the customer could not be delivered.",
    },
    "media_unreachable": {
        "it": "Non inviato: nessuna chat Telegram raggiungibile per questa segnalazione.",
        "en": "Not sent: the customer has no Telegram chat the bot can reach.",
    },
}

#: How the customer can be reached, when not as usual: "blocked" (they blocked the bot) or
#: "failed" (the last message to them could not be delivered); shown on the card.
REACH = ("blocked", "failed")


#: What a customer can attach to a case, as the desk names it (``MEDIA_MARK`` notes).
_MEDIA: dict[str, dict[str, str]] = {
    "photo": {"it": "una foto", "en": "a photo"},
    "video": {"it": "un video", "en": "a video"},
    "document": {"it": "un documento", "en": "a document"},
    "voice": {"it": "un messaggio vocale", "en": "a voice note"},
    "audio": {"it": "un audio", "en": "an audio file"},
    "video_note": {"it": "un videomessaggio", "en": "a video note"},
}


def media_line(text: str, lang: str) -> str | None:
    """Return the card's line for an attachment noted among the case's texts, None for words."""
    if not text.startswith(MEDIA_MARK):
        return None
    kind = text.removeprefix(MEDIA_MARK)
    names = _MEDIA.get(kind, {"it": kind, "en": kind})
    return label("media", lang, what=names.get(lang, names["en"]))


def label(key: str, lang: str, **values: str) -> str:
    """Return the agents' text ``key`` in ``lang`` (it|en; others fall back to en)."""
    texts = _L[key]
    return texts.get(lang, texts["en"]).format(**values)


# -- signed button data ------------------------------------------------------------------


def _signature(secret: bytes, op: str, escalation_id: int) -> str:
    digest = hmac.new(secret, f"{op}:{escalation_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()  # 72 bits: 12 characters


def callback_data(secret: bytes, op: str, escalation_id: int) -> str:
    """Return the signed button data for ``op`` (t|r|h) on an escalation."""
    if op not in OPS:
        raise ValueError(f"unknown desk operation {op!r}")
    return f"e:{op}:{escalation_id}:{_signature(secret, op, escalation_id)}"


@dataclass(frozen=True)
class DeskPress:
    """A verified press on a card button."""

    op: str  # take | resolve | hand_back
    escalation_id: int


def parse_callback(secret: bytes, data: str) -> DeskPress | None:
    """Return the press encoded in ``data``, or None when it is not ours or the signature is wrong."""
    if len(data) > 64:
        return None
    parts = data.split(":")
    if len(parts) != 4 or parts[0] != "e" or parts[1] not in OPS or not parts[2].isdigit():
        return None
    escalation_id = int(parts[2])
    if not hmac.compare_digest(parts[3], _signature(secret, parts[1], escalation_id)):
        return None
    return DeskPress(op=OPS[parts[1]], escalation_id=escalation_id)


# -- rendering ---------------------------------------------------------------------------


def when(at: datetime | None, tz: tzinfo, lang: str) -> str:
    """Return ``at`` as the desk reads it: weekday, day, month and time in ``lang`` ("ven 4 dic 13:27")."""
    if at is None:
        return "—"
    return format_datetime(at, "EEE d MMM HH:mm", tzinfo=tz, locale=_locale(lang))


def day(at: datetime, tz: tzinfo, lang: str) -> str:
    """Return the day of ``at`` in ``lang`` ("2 dic", "2 Dec")."""
    return format_date(at.astimezone(tz).date(), "d MMM", locale=_locale(lang))


def _locale(lang: str) -> str:
    return lang if lang in ("it", "en") else "en"


def overdue_text(hours: int, lang: str) -> str:
    """Return the card's overdue mark ("⏰ scaduta da 2 h"; days from 48 h on)."""
    if hours >= 48:
        return label("overdue_days", lang, n=str(hours // 24))
    return label("overdue_hours", lang, n=str(max(hours, 0)))


def topic_names(topics: list[str], lang: str) -> str:
    """Return the case's themes in the desk language."""
    from bot.report.labels import topic

    return ", ".join(topic(lang, t) for t in topics)


def _who(customer: Customer | None, escalation: Escalation) -> str:
    name = customer.name if customer and customer.name else None
    ident = escalation.customer_id or "?"
    return f"{escalation_html(name)} ({escalation_html(ident)})" if name else escalation_html(ident)


def escalation_html(text: str | None) -> str:
    """Return ``text`` escaped for Telegram's HTML parse mode ("—" for nothing)."""
    return escape(text, quote=False) if text else "—"


def render_card(
    escalation: Escalation,
    customer: Customer | None,
    history: list[Response],
    *,
    lang: str,
    tz: tzinfo,
    secret: bytes,
    stage_names: Mapping[str, str] | None = None,
    reach: str | None = None,
) -> tuple[str, list[list[dict[str, str]]]]:
    """Return the card's HTML text and its button rows for the escalation's current state.

    Everything is in the desk language ``lang``: dates (Babel), stage names (``stage_names``,
    from the journey), themes; the customer's own words are quoted as written. ``reach`` (one of
    ``REACH``) marks a customer the agent's replies do not reach.
    """
    assert escalation.id is not None
    names = stage_names or {}
    status = escalation.status
    icon = {"open": "🔴" if escalation.priority == "p1" else "🟠", "taken": "🟡", "resolved": "🟢"}.get(
        status, "⚪"
    )
    if status == "taken":
        state = label(
            "taken", lang, who=escalation_html(escalation.taken_by), at=when(escalation.taken_at, tz, lang)
        )
    elif status == "resolved":
        state = label(
            "resolved",
            lang,
            who=escalation_html(escalation.resolved_by),
            at=when(escalation.resolved_at, tz, lang),
        )
    else:
        state = label("open", lang)
    language = customer.language if customer and customer.language in ("it", "en") else None
    language_name = label(f"lang_{language}", lang) if language else "—"
    stage = names.get(escalation.stage, escalation.stage) if escalation.stage else None
    lines = [
        f"{icon} <b>{escalation.priority.upper()} · {label('title', lang)} #{escalation.id}</b> — {state}"
    ]
    if status != "resolved" and escalation.overdue_hours is not None:
        lines.append(f"<b>{overdue_text(escalation.overdue_hours, lang)}</b>")
    if reach in REACH:
        lines.append(f"<b>{label(f'reach_{reach}', lang)}</b>")
    lines += [
        f"{label('customer', lang)}: {_who(customer, escalation)} · {language_name}",
        f"{label('order', lang)}: {escalation_html(escalation.order_id)} · "
        f"{label('stage', lang)}: {escalation_html(stage)}",
    ]
    if escalation.metric and escalation.score is not None:
        lines.append(f"<b>{escalation.metric.upper()} {escalation.score}</b>")
    if escalation.topics:
        lines.append(f"{label('topics', lang)}: {escalation_html(topic_names(escalation.topics, lang))}")
    if escalation.human_requested:
        lines.append(f"<b>{label('human_line', lang)}</b>")
    attached = [line for t in escalation.texts if (line := media_line(t, lang)) is not None]
    words = [t for t in escalation.texts if not t.startswith(MEDIA_MARK)][-5:]
    if words:
        lines.append(f"{label('words', lang)}:")
        lines += [f"<i>“{escalation_html(w[:600])}”</i>" for w in words]
    lines += [escalation_html(line) for line in dict.fromkeys(attached)]
    if not words and not attached and escalation.score is None and not escalation.human_requested:
        lines.append(f"<i>{label('human', lang)}</i>")
    earlier = [r for r in history if r.survey_id != escalation.survey_id][:5]
    if earlier:
        items = [
            " · ".join(
                (
                    escalation_html(names.get(r.stage or "", r.stage)),
                    f"{escalation_html((r.metric or '').upper())} {r.score if r.score is not None else '—'}",
                    day(r.answered_at, tz, lang),
                )
            )
            for r in earlier
        ]
        lines.append(f"{label('history', lang)}: " + "; ".join(items))
    lines.append(f"{label('due', lang)}: {when(escalation.sla_due_at, tz, lang)}")
    if escalation.closing_answer:
        lines.append(label("solved_yes" if escalation.closing_answer == "yes" else "solved_no", lang))
    if status != "resolved":
        lines.append(f"<i>{label('reply_hint', lang)}</i>")
    return "\n".join(lines), _buttons(escalation, lang, secret)


def _buttons(escalation: Escalation, lang: str, secret: bytes) -> list[list[dict[str, str]]]:
    assert escalation.id is not None
    ops: list[tuple[str, str]] = []
    if escalation.status == "open":
        ops = [("t", "take"), ("r", "resolve")]
    elif escalation.status == "taken":
        ops = [("h", "hand_back"), ("r", "resolve")]
    row = [
        {"label": label(key, lang), "callback_data": callback_data(secret, op, escalation.id)}
        for op, key in ops
    ]
    return [row] if row else []


def render_relay(customer: Customer | None, escalation: Escalation, text: str) -> str:
    """Return the HTML of a customer's message relayed to the agents (language-neutral)."""
    return f"💬 <b>{_who(customer, escalation)}</b> · #{escalation.id}\n{escalation_html(text[:3500])}"


def as_payload(
    text: str, rows: list[list[dict[str, str]]], escalation: Escalation, **extra: Any
) -> dict[str, Any]:
    """Return the outbox payload of an agents' message."""
    return {"text": text, "rows": rows, "escalation_id": escalation.id, "parse_mode": "HTML", **extra}
