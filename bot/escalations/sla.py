"""Service levels: the one "nearly due" nudge, overdue counts and the recovery rate.

``sweep_sla`` is safe with several workers: each nudge is claimed by a conditional
``UPDATE escalations SET sla_warned_at = now WHERE id = … AND sla_warned_at IS NULL`` in the
same transaction as the nudge's outbox row, so exactly one worker posts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.engine.wiring import App
from bot.escalations.card import label, overdue_text, when
from bot.escalations.records import DeskConfig, post_card, post_note
from flows.escalation import Priority
from storage import escalations as escalation_store
from storage.db import Database


def _mentions(config: DeskConfig) -> str:
    names = [n.strip() for n in config.mentions.replace(",", " ").split() if n.strip()]
    return " ".join(n if n.startswith("@") else f"@{n}" for n in names[:10])


def sweep_sla(app: App, now: datetime, config: DeskConfig | None = None) -> dict[str, int]:
    """Re-post unresolved escalations that reached ``warn_at`` of their SLA window (once each).

    Returns counts: ``nudged`` (posted by this call) and ``overdue`` (unresolved past due now).
    """
    config = config or DeskConfig.from_settings(app.settings, app.journey)
    with app.db.read() as session:
        candidates = escalation_store.nudge_candidates(session, now)
    nudged = 0
    for candidate in candidates:
        assert candidate.sla_due_at is not None and candidate.id is not None
        priority = Priority(candidate.priority) if candidate.priority in ("p1", "p2") else None
        if now < app.service.levels.warn_at(candidate.opened_at, candidate.sla_due_at, priority):
            continue
        with app.db.write() as session:
            if not escalation_store.claim_nudge(session, candidate.id, now):
                continue  # another worker nudged it, or it was resolved meanwhile
            escalation = escalation_store.reread(session, candidate.id)
            assert escalation.sla_due_at is not None
            text = label(
                "nearly_due",
                config.lang,
                id=str(escalation.id),
                prio=escalation.priority.upper(),
                due=when(escalation.sla_due_at, config.tz, config.lang),
                mentions=_mentions(config),
            ).strip()
            post_note(session, escalation, text, now)
            nudged += 1
    marked = mark_overdue(app, now, config)
    return {"nudged": nudged, "overdue": overdue_count(app.db, now), "marked": marked}


def overdue_hours(due_at: datetime, now: datetime) -> int:
    """Return the whole hours an escalation is past its SLA at ``now`` (0 in the first hour)."""
    return int((now - due_at).total_seconds() // 3600)


def mark_overdue(app: App, now: datetime, config: DeskConfig) -> int:
    """Edit the card of every unresolved escalation past its SLA when its "⏰ overdue by …" mark
    changes (each hour, then each day from 48 h); return how many cards were edited.

    Safe with several workers: the mark is claimed with a conditional UPDATE on the hours shown.
    """
    with app.db.read() as session:
        late = escalation_store.past_due(session, now)
    marked = 0
    for candidate in late:
        assert candidate.sla_due_at is not None and candidate.id is not None
        hours = overdue_hours(candidate.sla_due_at, now)
        shown = candidate.overdue_hours
        if shown is not None and overdue_text(shown, config.lang) == overdue_text(hours, config.lang):
            continue
        with app.db.write() as session:
            if not escalation_store.claim_overdue_mark(session, candidate.id, shown, hours):
                continue  # another worker marked it, or it was resolved meanwhile
            post_card(session, escalation_store.reread(session, candidate.id), config, now)
            marked += 1
    return marked


def overdue_count(
    db: Database, now: datetime, since: datetime | None = None, until: datetime | None = None
) -> int:
    """Return how many escalations (opened in [since, until) if given) missed their SLA by ``now``.

    An escalation is overdue when it was resolved after its due time, or is unresolved past it.
    """
    with db.read() as session:
        return escalation_store.count_overdue(session, now, since, until)


@dataclass(frozen=True)
class Recovery:
    """Closing the loop over a period: resolved escalations and how many customers said "solved"."""

    resolved: int
    answered: int
    recovered: int

    @property
    def rate(self) -> float | None:
        """Return recovered / resolved (None when nothing was resolved)."""
        return self.recovered / self.resolved if self.resolved else None


def recovery(db: Database, since: datetime, until: datetime) -> Recovery:
    """Return the detractor recovery of escalations resolved in [since, until)."""
    with db.read() as session:
        rows = escalation_store.closing_answers_of_resolved(session, since, until)
    answered = [a for a in rows if a is not None]
    return Recovery(resolved=len(rows), answered=len(answered), recovered=sum(a == "yes" for a in answered))
