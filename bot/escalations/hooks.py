"""The ``service.after_apply`` hook: an escalation's card goes to the outbox in its own transaction.

Because the card (and the helpdesk/e-mail copies) are outbox rows written with the escalation,
a crash after the escalation is stored still delivers the card after restart, and only once
(each card version has a dedupe key).
"""

from __future__ import annotations

from bot.apply import ApplyContext
from bot.escalations import destinations
from bot.escalations.records import DeskConfig, post_card
from bot.service import AfterApply
from bot.wiring import App
from flows.escalation import EscalationRules, Priority, sla_due_at


def card_hook(config: DeskConfig, rules: EscalationRules) -> AfterApply:
    """Return the hook posting (or updating) the card of every escalation changed in a step."""

    def hook(ctx: ApplyContext) -> None:
        done: set[int | None] = set()
        for escalation in ctx.escalations:
            if escalation.id in done:
                continue
            done.add(escalation.id)
            new = escalation.card_version == 0
            if new:
                # Business hours (company timezone) for P1, per the journey's rules.
                escalation.sla_due_at = sla_due_at(
                    escalation.opened_at, Priority(escalation.priority), rules, config.tz
                )
            post_card(ctx.session, escalation, config, ctx.now)
            if new:
                destinations.enqueue(ctx.session, escalation, config, ctx.now)

    return hook


def install(app: App) -> DeskConfig:
    """Register the card hook on the app's service (once); return the desk configuration.

    Raises:
        ConfigError: when the company timezone is unknown.
    """
    config = DeskConfig.from_settings(app.settings)
    if not any(getattr(h, "__qualname__", "").startswith("card_hook") for h in app.service.after_apply):
        app.service.after_apply.append(card_hook(config, app.journey.escalation))
    return config
