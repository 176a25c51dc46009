"""The ``service.after_apply`` hook: an escalation's card goes to the outbox in its own transaction.

Because the card (and the helpdesk/e-mail copies) are outbox rows written with the escalation,
a crash after the escalation is stored still delivers the card after restart, and only once
(each card version has a dedupe key).
"""

from __future__ import annotations

from bot.engine.apply import ApplyContext
from bot.engine.service import AfterApply
from bot.engine.wiring import App
from bot.escalations import destinations
from bot.escalations.card import escalation_html, label, media_line, topic_names
from bot.escalations.records import TELEGRAM, DeskConfig, copy_onto_case, post_card, post_note, relay_to_agent
from flows.conversation.handoff import MEDIA_MARK
from storage.tables import Escalation


def card_hook(config: DeskConfig) -> AfterApply:
    """Return the hook posting (or editing) the card of every escalation changed in a step, and
    relaying the customer's words to the agent holding their case.

    A new case gets its copies (helpdesk, e-mail); a case the customer added to keeps its one
    card, edited, and the agent holding it is pinged; an attachment is copied onto it. Due times
    are the service's (apply.py).
    """

    def hook(ctx: ApplyContext) -> None:
        for escalation_id, text in ctx.relays:
            relay_to_agent(ctx.session, escalation_id, text, ctx.now)
        done: set[int | None] = set()
        for escalation in ctx.escalations:
            if escalation.id in done:
                continue
            done.add(escalation.id)
            new = escalation.card_version == 0
            news = ctx.case_news.get(escalation.id, []) if escalation.id is not None else []
            post_card(ctx.session, escalation, config, ctx.now)
            _copy_attachments(ctx, escalation, news)
            if new:
                destinations.enqueue(ctx.session, escalation, config, ctx.now)
            elif news and escalation.status == "taken":
                post_note(ctx.session, escalation, news_text(escalation, news, config.lang), ctx.now)

    return hook


def _copy_attachments(ctx: ApplyContext, escalation: Escalation, news: list[tuple[str, str]]) -> None:
    """An attachment the customer sent on Telegram joins the case as the file itself: copied
    into the agents' group, replying to the card (the card notes it), in the step's transaction."""
    via = ctx.address
    if ctx.message_id is None or via is None or via.channel != TELEGRAM:
        return
    if any(kind == "media" for kind, _ in news):
        copy_onto_case(ctx.session, escalation, via.address, ctx.message_id, ctx.now)


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
        app.service.after_apply.append(card_hook(config))
    return config
