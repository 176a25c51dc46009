"""Connector settings that are well-typed but unusable together (reported by ``cxbot config``)."""

from __future__ import annotations

from bot.infra.settings import Settings

_CHATWOOT = ("chatwoot_url", "chatwoot_api_token", "chatwoot_account_id", "chatwoot_inbox_id")


def check(settings: Settings) -> list[str]:
    """Return the problems of the connectors' settings (each naming its variable)."""
    problems: list[str] = []
    if settings.deep_link_email and not settings.smtp_host:
        problems.append("CXBOT_SMTP_HOST: required when CXBOT_DEEP_LINK_EMAIL is on")
    if settings.deep_link_email and not settings.telegram_bot_username:
        problems.append("CXBOT_TELEGRAM_BOT_USERNAME: required when CXBOT_DEEP_LINK_EMAIL is on (the link)")
    given = [name for name in _CHATWOOT if getattr(settings, name)]
    if given and len(given) < len(_CHATWOOT):
        missing = ", ".join(f"CXBOT_{n.upper()}" for n in _CHATWOOT if n not in given)
        problems.append(f"{missing}: needed with the other CXBOT_CHATWOOT_* settings")
    return problems
