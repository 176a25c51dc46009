"""The audit of the agents' desk: every action (and every refused attempt) with who and when.

Rows are written in the transaction of the action itself (``desk._act``), so the audit can
never disagree with the escalation; they are shown on the card (the latest few) and by
``cxbot escalations``. They hold agents' names, never customers' words.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape

from storage import escalations as escalation_store
from storage.db import Database, Session
from storage.tables import AgentActionRecord

#: Actions on the card: the latest ones (a long-lived case would outgrow Telegram's 4096 characters).
ON_CARD = 5

_VERBS = {
    "take": {"it": "presa in carico", "en": "took it"},
    "reply": {"it": "risposta in chat", "en": "replied"},
    "hand_back": {"it": "restituita al bot", "en": "handed back"},
    "resolve": {"it": "risolta", "en": "resolved"},
    "refused": {"it": "tentativo rifiutato (non fa parte del team)", "en": "refused (not an agent)"},
}
_TITLE = {"it": "Registro", "en": "Audit log"}


def record(session: Session, escalation_id: int, agent: str, action: str, now: datetime) -> None:
    """Add one audit row inside the caller's transaction."""
    escalation_store.record_action(session, escalation_id, agent, action, now)


def record_refusal(db: Database, escalation_id: int, agent: str, now: datetime) -> None:
    """Audit an attempt by someone who is not an agent (its own small transaction)."""
    with db.write() as session:
        record(session, escalation_id, agent, "refused", now)


def trail(session: Session, escalation_id: int) -> list[AgentActionRecord]:
    """Return the escalation's audit, oldest first."""
    return escalation_store.action_trail(session, escalation_id)


def card_lines(rows: list[AgentActionRecord], lang: str, tz: tzinfo) -> list[str]:
    """Return the card's audit lines (HTML, escaped): the latest ``ON_CARD`` actions."""
    if not rows:
        return []
    lines = [f"<b>{_TITLE.get(lang, _TITLE['en'])}</b>"]
    for row in rows[-ON_CARD:]:
        verb = _VERBS.get(row.action, {}).get(lang) or escape(row.action)
        lines.append(f"{row.at.astimezone(tz):%d/%m %H:%M} · {escape(row.agent)} · {verb}")
    return lines


def as_dicts(rows: list[AgentActionRecord]) -> list[dict[str, str]]:
    """Return the audit as JSON-ready dicts (``cxbot escalations --format json``)."""
    return [{"at": row.at.isoformat(), "agent": row.agent, "action": row.action} for row in rows]
