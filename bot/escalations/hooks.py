"""The ``service.after_apply`` hook: an escalation's card goes to the outbox in its own transaction.

Because the card (and the helpdesk/e-mail copies) are outbox rows written with the escalation,
a crash after the escalation is stored still delivers the card after restart, and only once
(each card version has a dedupe key).
"""

from __future__ import annotations

from bot.apply import ApplyContext
from bot.escalations import destinations
from bot.escalations.card import escalation_html, label, media_line, topic_names
from bot.escalations.records import DeskConfig, post_card, post_note
from bot.service import AfterApply
from bot.wiring import App
from flows.conversation.handoff import MEDIA_MARK
from flows.escalation import EscalationRules, Priority, sla_due_at
from storage.tables import Escalation


def card_hook(config: DeskConfig, rules: EscalationRules) -> AfterApply:
    """Return the hook posting (or editing) the card of every escalation changed in a step.

    A new case gets its SLA deadline in business hours (company timezone) and its copies; a case
    the customer added to keeps its one card, edited, and the agent holding it is pinged; a raised
    priority brings the deadline forward (never later than it was).
    """

    def hook(ctx: ApplyContext) -> None:
        done: set[int | None] = set()
        for escalation in ctx.escalations:
            if escalation.id in done:
                continue
            done.add(escalation.id)
            new = escalation.card_version == 0
            news = ctx.case_news.get(escalation.id, []) if escalation.id is not None else []
            if new:
                escalation.sla_due_at = sla_due_at(
                    escalation.opened_at, Priority(escalation.priority), rules, config.tz
                )
            elif any(kind == "priority" for kind, _ in news):
                raised = sla_due_at(ctx.now, Priority(escalation.priority), rules, config.tz)
                escalation.sla_due_at = min(escalation.sla_due_at or raised, raised)
                escalation.sla_warned_at = None  # the new deadline gets its own nudge
            post_card(ctx.session, escalation, config, ctx.now)
            if new:
                destinations.enqueue(ctx.session, escalation, config, ctx.now)
            elif news and escalation.status == "taken":
                post_note(ctx.session, escalation, news_text(escalation, news, config.lang), ctx.now)

    return hook


def news_text(escalation: Escalation, news: list[tuple[str, str]], lang: str) -> str:
    """Return the ping to the agent holding a case: what the customer just added (HTML)."""
    parts: list[str] = []
    for kind, value in news:
        if kind == "text":
            parts.append(f"<i>“{escalation_html(value[:600])}”</i>")
        elif kind == "human":
            parts.append(label("human", lang))
        elif kind == "topics":
            parts.append(
                label("news_topics", lang, topics=escalation_html(topic_names(value.split(","), lang)))
            )
        elif kind == "priority":
            parts.append(label("news_priority", lang, prio=value.upper()))
        elif kind == "media":
            parts.append(escalation_html(media_line(MEDIA_MARK + value, lang) or value))
    who = escalation_html(escalation.taken_by) if escalation.taken_by else ""
    return label("news", lang, who=who, id=str(escalation.id), what="; ".join(parts)).replace("🔔  ", "🔔 ")


def install(app: App) -> DeskConfig:
    """Register the card hook on the app's service (once); return the desk configuration.

    Raises:
        ConfigError: when the company timezone is unknown.
    """
    config = DeskConfig.from_settings(app.settings, app.journey)
    if not any(getattr(h, "__qualname__", "").startswith("card_hook") for h in app.service.after_apply):
        app.service.after_apply.append(card_hook(config, app.journey.escalation))
    return config
